// One-time EC2 bootstrap credentials (migration 009): issued by the run's start, spent by the agent's
// first exchange. Part of the credentials aggregate, kept apart because the exchange has its own rules.
import type { Pool } from 'pg';
import { hashToken } from '../crypto';

export type BootstrapUse =
  | { outcome: 'exchanged'; runId: string; requestModel: string | null }
  | { outcome: 'used' | 'expired' | 'unknown' };

export function createBootstrapStore(pool: Pool) {
  return {
    /** Idempotent per credential: a retried start of the same run issues nothing new. */
    async issueBootstrapCredential(req: { workspaceId: string; runId: string; credential: string; expiresAt: Date; requestModel: string | null }): Promise<void> {
      await pool.query(
        `INSERT INTO workspace_bootstrap_credentials (credential_hash, workspace_id, provision_run_id, expires_at, request_model)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (credential_hash) DO NOTHING`,
        [hashToken(req.credential), req.workspaceId, req.runId, req.expiresAt, req.requestModel],
      );
    },

    /** Spends the credential in one statement: two concurrent exchanges cannot both succeed. */
    async useBootstrapCredential(workspaceId: string, credential: string): Promise<BootstrapUse> {
      const hash = hashToken(credential);
      const { rows } = await pool.query<{ provision_run_id: string; request_model: string | null }>(
        `UPDATE workspace_bootstrap_credentials SET used_at = now()
          WHERE credential_hash = $1 AND workspace_id = $2 AND used_at IS NULL AND expires_at > now()
        RETURNING provision_run_id, request_model`,
        [hash, workspaceId],
      );
      if (rows[0]) return { outcome: 'exchanged', runId: rows[0].provision_run_id, requestModel: rows[0].request_model };
      const { rows: known } = await pool.query<{ used: boolean }>(
        'SELECT used_at IS NOT NULL AS used FROM workspace_bootstrap_credentials WHERE credential_hash = $1 AND workspace_id = $2',
        [hash, workspaceId],
      );
      if (!known[0]) return { outcome: 'unknown' };
      return { outcome: known[0].used ? 'used' : 'expired' };
    },
  };
}
