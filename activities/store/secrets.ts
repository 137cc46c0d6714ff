// The secrets aggregate: global and workspace secrets, sealed with the platform key before they are
// written and opened only inside the process that needs them.
import type { Pool } from 'pg';
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
  };
}
