// The org import's template snapshot (org_imports.template) is what a retry or a replay months later
// creates workspaces from, so it must keep the env values; but those values are secrets, stored
// encrypted everywhere else. The snapshot therefore keeps every env value sealed with the platform key
// (the same AES-256-GCM box as workspace secrets) and opens them only inside the import activities.
import type { Pool } from 'pg';
import type { OrgTemplate, TemplateWorkspace, WorkspaceSettings } from '../domain/org-template';
import type { SecretBox } from './crypto';

/** org_imports.snapshot_format: 1 = env values in clear (rows written before this migration), 2 = env values sealed. */
export const SNAPSHOT_FORMAT = { clear: 1, sealed: 2 } as const;

const mapValues = (env: Record<string, string> | undefined, fn: (value: string) => string) =>
  env && Object.fromEntries(Object.entries(env).map(([k, v]) => [k, fn(v)]));

function mapEnv<T extends WorkspaceSettings | undefined>(settings: T, fn: (value: string) => string): T {
  if (!settings?.env) return settings;
  return { ...settings, env: mapValues(settings.env, fn) };
}

function mapTemplateEnv(template: OrgTemplate, fn: (value: string) => string): OrgTemplate {
  const visit = (ws: TemplateWorkspace): TemplateWorkspace => {
    const out: TemplateWorkspace = { ...mapEnv(ws, fn), children: (ws.children ?? []).map(visit) };
    if (ws.file_env) out.file_env = mapValues(ws.file_env, fn);
    return out;
  };
  // Tolerant of partial rows: a legacy snapshot that is not a whole template still converts.
  return { ...template, defaults: mapEnv(template.defaults, fn), workspaces: (template.workspaces ?? []).map(visit) };
}

export function sealTemplateSecrets(template: OrgTemplate, box: SecretBox): OrgTemplate {
  return mapTemplateEnv(template, (v) => box.seal(v));
}

export function openTemplateSecrets(template: OrgTemplate, box: SecretBox): OrgTemplate {
  return mapTemplateEnv(template, (v) => box.open(v));
}

/** The template as the import works with it (env values in clear), whatever format the row has. */
export function readSnapshot(row: { template: OrgTemplate; snapshot_format: number }, box: SecretBox): OrgTemplate {
  return row.snapshot_format === SNAPSHOT_FORMAT.sealed ? openTemplateSecrets(row.template, box) : row.template;
}

/**
 * Seals the env values of snapshots written before the sealed-snapshot migration (which cannot encrypt: the key is not
 * in the database). Run at worker start; idempotent (only format-1 rows are read, each row is rewritten
 * with its format in one UPDATE guarded on the old format).
 */
export async function sealLegacySnapshots(pool: Pool, box: SecretBox): Promise<number> {
  const { rows } = await pool.query<{ id: string; template: OrgTemplate }>('SELECT id, template FROM org_imports WHERE snapshot_format = $1', [SNAPSHOT_FORMAT.clear]);
  let sealed = 0;
  for (const row of rows) {
    // A row that is not a template object has no env to seal: mark it, so it is not read again.
    const template = row.template && typeof row.template === 'object' ? sealTemplateSecrets(row.template, box) : row.template;
    const res = await pool.query('UPDATE org_imports SET template = $2, snapshot_format = $3 WHERE id = $1 AND snapshot_format = $4', [
      row.id,
      JSON.stringify(template),
      SNAPSHOT_FORMAT.sealed,
      SNAPSHOT_FORMAT.clear,
    ]);
    sealed += res.rowCount ?? 0;
  }
  return sealed;
}
