// The credentials aggregate: agent tokens (stored as sha256 only), the inbound secret, and what an
// authenticated agent may write (registration; heartbeats are in liveness.ts).
import type { Pool } from 'pg';
import type { WorkspaceStatus } from '../../domain/vocabulary';
import { hashToken, newAuthToken, newInboundSecret, type SecretBox } from '../crypto';

export interface AgentIdentity {
  workspaceId: string;
  status: WorkspaceStatus;
  /** The provision run that minted the token; null for tokens minted outside a run (imports, pre-004). */
  runId: string | null;
}

/** What begin_provision (migration 004) did; see there. */
export type BeginOutcome = 'begun' | 'already' | 'superseded' | 'missing' | 'removed';

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

export function createCredentialStore(pool: Pool, box: SecretBox) {
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
     * Agent registration with the token it authenticated with (register_agent, migration 004): online
     * unless removed, and only while the token is still live after the row lock, so a token that a new
     * run revoked meanwhile registers nothing. The answer carries the token's run, which the
     * registration signal passes on: only the run that minted the token counts it.
     */
    async markRegistered(
      workspaceId: string,
      token: string,
      url: string | null,
    ): Promise<{ outcome: 'registered'; answer: AgentAnswer; runId: string | null } | { outcome: 'unauthorized' | 'removed' }> {
      const { rows } = await pool.query<AgentAnswerRow & { outcome: 'registered' | 'unauthorized' | 'removed'; run_id: string | null }>(
        'SELECT outcome, status, platform_inbound_secret, run_id FROM register_agent($1, $2, $3)',
        [workspaceId, hashToken(token), url],
      );
      const row = rows[0];
      if (row.outcome !== 'registered') return { outcome: row.outcome };
      return { outcome: 'registered', answer: agentAnswer(row), runId: row.run_id };
    },
  };
}
