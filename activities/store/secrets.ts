// The secrets aggregate: global and workspace secrets, sealed with the platform key before they are
// written and opened only inside the process that needs them.
import type { Pool } from 'pg';
import { NO_RESTART_ON_WRITE_STATUSES } from '../../domain/workspace-defaults';
import type { SecretBox } from '../crypto';
import type { Queryable } from './db';

export function createSecretStore(pool: Pool, box: SecretBox) {
  return {
    /** Decrypts global and workspace secrets (one query). Throws DecryptError (no details) on any bad value. */
    async loadSecrets(workspaceId: string): Promise<{ global: Record<string, string>; workspace: Record<string, string> }> {
      const { rows } = await pool.query<{ scope: 'global' | 'workspace'; name: string; value_enc: string }>(
        `SELECT 'global' AS scope, name, value_enc FROM global_secrets
         UNION ALL
         SELECT 'workspace', name, value_enc FROM workspace_secrets WHERE workspace_id = $1`,
        [workspaceId],
      );
      const secrets = { global: {} as Record<string, string>, workspace: {} as Record<string, string> };
      for (const r of rows) secrets[r.scope][r.name] = box.open(r.value_enc);
      return secrets;
    },

    /** Names of global secrets with a non-empty value (the org import preflight's notion of "set"). */
    async nonEmptyGlobalSecretNames(): Promise<Set<string>> {
      const { rows } = await pool.query<{ name: string; value_enc: string }>('SELECT name, value_enc FROM global_secrets');
      return new Set(rows.filter((r) => box.open(r.value_enc) !== '').map((r) => r.name));
    },

    async putGlobalSecret(name: string, value: string): Promise<void> {
      await pool.query(
        `INSERT INTO global_secrets (name, value_enc) VALUES ($1, $2)
         ON CONFLICT (name) DO UPDATE SET value_enc = EXCLUDED.value_enc, updated_at = now()`,
        [name, box.seal(value)],
      );
    },

    /** `db`: a transaction's client, so a new workspace and its secrets commit together. */
    async putWorkspaceSecret(workspaceId: string, name: string, value: string, db: Queryable = pool): Promise<void> {
      await db.query(
        `INSERT INTO workspace_secrets (workspace_id, name, value_enc) VALUES ($1, $2, $3)
         ON CONFLICT (workspace_id, name) DO UPDATE SET value_enc = EXCLUDED.value_enc, updated_at = now()`,
        [workspaceId, name, box.seal(value)],
      );
    },

    /** Names and timestamps only: a secret's value never leaves the store through a listing. */
    async listWorkspaceSecrets(workspaceId: string): Promise<Array<{ key: string; created_at: Date; updated_at: Date }>> {
      const { rows } = await pool.query<{ key: string; created_at: Date; updated_at: Date }>(
        'SELECT name AS key, created_at, updated_at FROM workspace_secrets WHERE workspace_id = $1 ORDER BY name',
        [workspaceId],
      );
      return rows;
    },

    async getWorkspaceSecret(workspaceId: string, name: string): Promise<string | null> {
      const { rows } = await pool.query<{ value_enc: string }>('SELECT value_enc FROM workspace_secrets WHERE workspace_id = $1 AND name = $2', [workspaceId, name]);
      return rows[0] ? box.open(rows[0].value_enc) : null;
    },

    async deleteWorkspaceSecret(workspaceId: string, name: string): Promise<boolean> {
      const res = await pool.query('DELETE FROM workspace_secrets WHERE workspace_id = $1 AND name = $2', [workspaceId, name]);
      return (res.rowCount ?? 0) > 0;
    },

    async deleteGlobalSecret(name: string): Promise<boolean> {
      const res = await pool.query('DELETE FROM global_secrets WHERE name = $1', [name]);
      return (res.rowCount ?? 0) > 0;
    },

    /**
     * Workspaces whose agent sees a change of global secret `name` (A3.2): restartsOnConfigWrite(), and without a workspace secret of the same name (which shadows the global one).
     */
    async workspacesUsingGlobalSecret(name: string): Promise<string[]> {
      const { rows } = await pool.query<{ id: string }>(
        `SELECT w.id FROM workspaces w
          WHERE w.compute <> 'none' AND NOT (w.status = ANY($2::text[])) AND NOT (w.status = 'provisioning' AND w.provision_run_id IS NULL)
            AND NOT EXISTS (SELECT 1 FROM workspace_secrets s WHERE s.workspace_id = w.id AND s.name = $1)
          ORDER BY w.id`,
        [name, NO_RESTART_ON_WRITE_STATUSES],
      );
      return rows.map((r) => r.id);
    },
  };
}
