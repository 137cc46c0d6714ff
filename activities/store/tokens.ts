// Tokens an operator manages by hand (SPEC-ADDENDUM A11.1-2): listed by id, prefix and times (never
// the token or its hash), minted on request alongside the live ones, revoked one by one. Stored like
// every agent token: its sha256 and its first 8 characters, nothing that could be used to call as it.
import type { Pool } from 'pg';
import { hashToken, newAuthToken } from '../crypto';
import type { InTransaction } from './db';

/** How many characters of a token the list shows (A11.1). */
export const TOKEN_PREFIX_LENGTH = 8;
/** A workspace holds at most this many live tokens; one more is a 429 (A11.2). */
export const MAX_LIVE_TOKENS = 50;

export interface TokenListing {
  id: string;
  prefix: string | null;
  created_at: Date;
  last_used_at: Date | null;
}

export type TokenMint = { outcome: 'minted'; token: string } | { outcome: 'limit' } | { outcome: 'missing' } | { outcome: 'removed' };

export const tokenPrefix = (token: string): string => token.slice(0, TOKEN_PREFIX_LENGTH);

export function createTokenStore(pool: Pool, inTransaction: InTransaction) {
  return {
    /** Live tokens, newest first, one page; `count` is every live token of the workspace. */
    async listLiveTokens(workspaceId: string, page: { limit: number; offset: number }): Promise<{ tokens: TokenListing[]; count: number }> {
      const [listed, counted] = await Promise.all([
        pool.query<TokenListing>(
          `SELECT id::text AS id, prefix, created_at, last_used_at
             FROM workspace_auth_tokens WHERE workspace_id = $1 AND revoked_at IS NULL
            ORDER BY created_at DESC, workspace_auth_tokens.id DESC LIMIT $2 OFFSET $3`,
          [workspaceId, page.limit, page.offset],
        ),
        pool.query<{ n: number }>('SELECT count(*)::int AS n FROM workspace_auth_tokens WHERE workspace_id = $1 AND revoked_at IS NULL', [workspaceId]),
      ]);
      return { tokens: listed.rows, count: counted.rows[0].n };
    },

    /**
     * One more live token. The workspace row is locked first, so two concurrent requests at 49 live
     * tokens cannot both pass the count, and a delete that marks the row removed meanwhile wins: the
     * token is refused rather than minted for a removed workspace.
     */
    async mintExtraToken(workspaceId: string): Promise<TokenMint> {
      return inTransaction(async (db) => {
        const ws = await db.query<{ status: string }>('SELECT status FROM workspaces WHERE id = $1 FOR UPDATE', [workspaceId]);
        if (!ws.rows[0]) return { outcome: 'missing' as const };
        if (ws.rows[0].status === 'removed') return { outcome: 'removed' as const };
        const live = await db.query<{ n: number }>(
          'SELECT count(*)::int AS n FROM workspace_auth_tokens WHERE workspace_id = $1 AND revoked_at IS NULL',
          [workspaceId],
        );
        if (live.rows[0].n >= MAX_LIVE_TOKENS) return { outcome: 'limit' as const };
        const token = newAuthToken();
        // With its audit entry: who holds a token to a workspace is what an operator asks after an incident.
        await db.query(
          `WITH minted AS (INSERT INTO workspace_auth_tokens (workspace_id, token_hash, prefix) VALUES ($1, $2, $3) RETURNING id)
           INSERT INTO activity_logs (workspace_id, action, message, details, source)
           SELECT $1, 'token.created', 'token ' || $3 || ' created', jsonb_build_object('token_id', id::text, 'prefix', $3::text), 'canvas' FROM minted`,
          [workspaceId, hashToken(token), tokenPrefix(token)],
        );
        return { outcome: 'minted' as const, token };
      });
    },

    /** Revokes one live token of this workspace; false when there is none with that id (or it is another's). */
    async revokeToken(workspaceId: string, tokenId: string): Promise<boolean> {
      const { rows } = await pool.query<{ revoked: number }>(
        `WITH revoked AS (
           UPDATE workspace_auth_tokens SET revoked_at = now() WHERE id = $1::bigint AND workspace_id = $2 AND revoked_at IS NULL
           RETURNING id, prefix),
         logged AS (
           INSERT INTO activity_logs (workspace_id, action, message, details, source)
           SELECT $2, 'token.revoked', 'token ' || COALESCE(prefix, '#' || id::text) || ' revoked',
                  jsonb_build_object('token_id', id::text, 'prefix', prefix), 'canvas' FROM revoked)
         SELECT count(*)::int AS revoked FROM revoked`,
        [tokenId, workspaceId],
      );
      return rows[0].revoked === 1;
    },

  };
}

/** Records the prefix of a token minted by a provision run or an import once its hash is stored. */
export async function recordTokenPrefix(pool: Pool, token: string): Promise<void> {
  await pool.query('UPDATE workspace_auth_tokens SET prefix = $2 WHERE token_hash = $1 AND prefix IS NULL', [hashToken(token), tokenPrefix(token)]);
}
