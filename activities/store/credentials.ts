// The credentials aggregate: agent tokens (stored as sha256 only), the inbound secret, and what an
// authenticated agent may write (registration; heartbeats are in liveness.ts).
import type { Pool } from 'pg';
import { isParked, type DeliveryMode, type Runtime, type WorkspaceStatus } from '../../domain/vocabulary';
import { pushUrlMissing, resolveDeliveryMode } from '../../domain/workspace-defaults';
import { hashToken, newAuthToken, newInboundSecret, type SecretBox } from '../crypto';
import { transactionRunner } from './db';
import { recordTokenPrefix } from './tokens';

export interface AgentIdentity {
  workspaceId: string;
  status: WorkspaceStatus;
  /** The provision run that minted the token; null for tokens minted outside a run (imports, pre-004). */
  runId: string | null;
}

/** What begin_provision (migration 004) did; see there. */
/** `paused`: the row is paused or hibernating (migration 014); no provision may start it. */
export type BeginOutcome = 'begun' | 'already' | 'superseded' | 'missing' | 'removed' | 'paused';

export interface BeginProvisionRequest {
  workspaceId: string;
  runId: string;
  /** workflowInfo().runStartTime in ms; null from runs scheduled before it was passed. */
  runStartedAtMs: number | null;
  status: 'provisioning' | 'awaiting_agent';
  timeoutSeconds: number;
}

/** What register and heartbeat tell the agent: its status and the secret it checks platform calls with. */
export interface AgentAnswer {
  status: WorkspaceStatus;
  inboundSecret: string | null;
}

interface AgentAnswerRow {
  status: WorkspaceStatus;
  platform_inbound_secret: string | null;
}

/** A5.5: a database failure during register; the route answers 500 `registration failed`. */
export class RegistrationFailed extends Error {
  constructor(cause: unknown) {
    super('registration failed', { cause });
    this.name = 'RegistrationFailed';
  }
}

export function createCredentialStore(pool: Pool, box: SecretBox) {
  const inTransaction = transactionRunner(pool);
  function agentAnswer(row: AgentAnswerRow): AgentAnswer {
    return { status: row.status, inboundSecret: row.platform_inbound_secret ? box.open(row.platform_inbound_secret) : null };
  }

  return {
    /**
     * Revokes every live token, issues a new one (only its hash is stored) and a new
     * platform_inbound_secret, atomically. Every provision path calls this (the reference drifted when
     * one path skipped it).
     */
    async mintCredentials(workspaceId: string): Promise<{ token: string; inboundSecret: string }> {
      const token = newAuthToken();
      const inboundSecret = newInboundSecret();
      // One round trip; the function (migration 003) locks the row, revokes, inserts, stores the secret.
      const { rows } = await pool.query<{ minted: boolean }>('SELECT mint_workspace_credentials($1, $2, $3) AS minted', [
        workspaceId,
        hashToken(token),
        box.seal(inboundSecret),
      ]);
      if (!rows[0]?.minted) throw new Error('workspace not found');
      await recordTokenPrefix(pool, token);
      return { token, inboundSecret };
    },

    /**
     * The first step of a provision run (begin_provision, migration 004): this run's deterministic
     * token, revocation of the others, status, ownership and deadline in one transaction, or nothing at
     * all when the run already began ('already') or a newer run owns the row ('superseded').
     */
    async beginProvisionRun(req: BeginProvisionRequest): Promise<{ outcome: BeginOutcome; token: string; deadlineAt: Date | null }> {
      const token = box.agentTokenForRun(req.workspaceId, req.runId);
      const { rows } = await pool.query<{ outcome: BeginOutcome; deadline_at: Date | null }>(
        'SELECT outcome, deadline_at FROM begin_provision($1, $2, $3, $4, $5, $6, $7)',
        [
          req.workspaceId,
          req.runId,
          req.runStartedAtMs === null ? null : new Date(req.runStartedAtMs),
          hashToken(token),
          box.seal(newInboundSecret()),
          req.status,
          req.timeoutSeconds,
        ],
      );
      // 'already' too: a run whose first attempt died between the two statements gets its prefix now.
      if (rows[0].outcome === 'begun' || rows[0].outcome === 'already') await recordTokenPrefix(pool, token);
      return { outcome: rows[0].outcome, token, deadlineAt: rows[0].deadline_at };
    },

    /** Whether this run's token was minted (its hash stored): the run began, whatever happened since. */
    async runHasBegun(workspaceId: string, runId: string): Promise<boolean> {
      const { rowCount } = await pool.query('SELECT 1 FROM workspace_auth_tokens WHERE token_hash = $1', [hashToken(box.agentTokenForRun(workspaceId, runId))]);
      return (rowCount ?? 0) > 0;
    },

    async revokeTokens(workspaceIds: string[]): Promise<number> {
      const res = await pool.query(
        'UPDATE workspace_auth_tokens SET revoked_at = now() WHERE workspace_id = ANY($1::uuid[]) AND revoked_at IS NULL',
        [workspaceIds],
      );
      return res.rowCount ?? 0;
    },

    /**
     * The sweeper's revoke of idle tokens, re-checking in the same statement what its read saw: the
     * workspace is Docker and not provisioning (a provision is minting or has just minted), and no live
     * token of it was minted or used within the grace. The workspace row is locked first, so a
     * concurrent mint (which locks it too, migration 003) either commits before (then its fresh token
     * fails the check) or waits until after (then it inserts a token this statement never sees).
     * Returns the workspaces whose tokens it revoked.
     */
    async revokeStaleTokens(workspaceIds: string[], graceSeconds: number): Promise<string[]> {
      if (workspaceIds.length === 0) return [];
      const { rows } = await pool.query<{ workspace_id: string }>(
        `WITH locked AS (
           SELECT id FROM workspaces WHERE id = ANY($1::uuid[]) AND compute = 'docker' AND status <> 'provisioning' FOR UPDATE)
         UPDATE workspace_auth_tokens t SET revoked_at = now()
           FROM locked
          WHERE t.workspace_id = locked.id AND t.revoked_at IS NULL
            AND COALESCE(t.last_used_at, t.created_at) < now() - make_interval(secs => $2)
            AND NOT EXISTS (SELECT 1 FROM workspace_auth_tokens f WHERE f.workspace_id = locked.id AND f.revoked_at IS NULL
                             AND COALESCE(f.last_used_at, f.created_at) >= now() - make_interval(secs => $2))
        RETURNING t.workspace_id`,
        [workspaceIds, graceSeconds],
      );
      return [...new Set(rows.map((r) => r.workspace_id))].sort();
    },

    /** Finds the workspace a bearer token belongs to; null for unknown or revoked tokens. */
    async authenticateAgent(token: string): Promise<AgentIdentity | null> {
      if (!token || token.length > 200) return null;
      // Looked up by the token's sha256, never by the token: how far the index compare gets depends on
      // the hash, which a caller cannot steer towards a stored one, so its timing reveals nothing of use.
      const { rows } = await pool.query<{ workspace_id: string; status: WorkspaceStatus; provision_run_id: string | null }>(
        `UPDATE workspace_auth_tokens t SET last_used_at = now()
           FROM workspaces w
          WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND w.id = t.workspace_id
        RETURNING t.workspace_id, w.status, t.provision_run_id`,
        [hashToken(token)],
      );
      const row = rows[0];
      if (!row) return null;
      return { workspaceId: row.workspace_id, status: row.status, runId: row.provision_run_id };
    },

    /**
     * Whether an agent without a token may register (A5.5): an external workspace, not removed, with no
     * live token (created with a url, its mint failed, or every token was revoked). Platform-run agents
     * always get their token from their provision run, so for them a tokenless register is refused.
     * A cheap read so the route can refuse before it looks at the push URL; markRegistered decides
     * again under the row lock.
     */
    async tokenlessRegisterAllowed(workspaceId: string): Promise<boolean> {
      const { rowCount } = await pool.query(
        `SELECT 1 FROM workspaces w WHERE w.id = $1 AND w.compute = 'none' AND w.status <> 'removed'
            AND NOT EXISTS (SELECT 1 FROM workspace_auth_tokens t WHERE t.workspace_id = w.id AND t.revoked_at IS NULL)`,
        [workspaceId],
      );
      return (rowCount ?? 0) > 0;
    },

    /**
     * Agent registration (register_agent, migration 004): online unless removed, and only while the
     * token is still live after the row lock, so a token that a new run revoked meanwhile registers
     * nothing. The answer carries the token's run, which the registration signal passes on: only the
     * run that minted the token counts it.
     * In the same transaction: the delivery mode resolved by A5.4 is stored, a missing inbound secret
     * is minted (A5.5), and with `token` null (tokenlessRegisterAllowed's case, re-checked under the
     * lock) the first token is minted and returned once. A push-mode external agent with no URL given
     * or stored changes nothing ('url_required').
     */
    async markRegistered(
      workspaceId: string,
      token: string | null,
      url: string | null,
      requestedMode?: DeliveryMode,
    ): Promise<
      | { outcome: 'registered'; answer: AgentAnswer; runId: string | null; deliveryMode: DeliveryMode; newToken: string | null }
      | { outcome: 'unauthorized' | 'removed' | 'paused' | 'url_required' }
    > {
      return inTransaction(async (db) => {
        const { rows: found } = await db.query<{ runtime: Runtime; compute: string; status: WorkspaceStatus; delivery_mode: DeliveryMode; url: string | null }>(
          'SELECT runtime, compute, status, delivery_mode, url FROM workspaces WHERE id = $1 FOR UPDATE',
          [workspaceId],
        );
        const ws = found[0];
        if (!ws) return { outcome: 'unauthorized' as const };
        let newToken: string | null = null;
        if (token === null) {
          // After the lock, so two tokenless registers cannot both find no live token.
          const live = await db.query('SELECT 1 FROM workspace_auth_tokens WHERE workspace_id = $1 AND revoked_at IS NULL', [workspaceId]);
          // A paused or hibernated external workspace has no live token on purpose: only resume/wake may mint one.
          if (ws.compute !== 'none' || ws.status === 'removed' || isParked(ws.status) || (live.rowCount ?? 0) > 0) return { outcome: 'unauthorized' as const };
          newToken = newAuthToken();
          await db.query('INSERT INTO workspace_auth_tokens (workspace_id, token_hash) VALUES ($1, $2)', [workspaceId, hashToken(newToken)]);
        }
        const deliveryMode = resolveDeliveryMode(requestedMode, ws.delivery_mode, ws.runtime);
        if (ws.status !== 'removed' && pushUrlMissing(deliveryMode, ws.runtime, url, ws.url)) return { outcome: 'url_required' as const };
        const { rows } = await db.query<AgentAnswerRow & { outcome: 'registered' | 'unauthorized' | 'removed' | 'paused'; run_id: string | null }>(
          'SELECT outcome, status, platform_inbound_secret, run_id FROM register_agent($1, $2, $3)',
          [workspaceId, hashToken(newToken ?? token ?? ''), url],
        );
        const row = rows[0];
        if (row.outcome !== 'registered') return { outcome: row.outcome };
        const { rows: updated } = await db.query<{ platform_inbound_secret: string | null }>(
          `UPDATE workspaces SET delivery_mode = $2, platform_inbound_secret = COALESCE(platform_inbound_secret, $3)
            WHERE id = $1 RETURNING platform_inbound_secret`,
          [workspaceId, deliveryMode, box.seal(newInboundSecret())],
        );
        const answer = agentAnswer({ status: row.status, platform_inbound_secret: updated[0].platform_inbound_secret });
        return { outcome: 'registered' as const, answer, runId: row.run_id, deliveryMode, newToken };
      }).catch((err: unknown) => {
        throw new RegistrationFailed(err);
      });
    },
  };
}
