// Issue #14.1: env values an import brings are secrets. They are stored encrypted as workspace secrets,
// and nowhere else in clear: not in the import snapshot (org_imports.template), not in any other table,
// not in the import's workflow history. Retry still works from the sealed snapshot.
import { randomBytes } from 'node:crypto';
import { readSnapshot, sealLegacySnapshots, SNAPSHOT_FORMAT } from '../../activities/template-snapshot';
import type { OrgTemplate } from '../../domain/org-template';
import { removeWorkspaceContainer } from './support/compute';
import { startPlatform, waitFor, type Platform } from './support/platform';

let p: Platform;
beforeAll(async () => {
  p = await startPlatform();
});
afterAll(async () => {
  await p?.close();
});

const unique = (label: string) => `${label}-${randomBytes(12).toString('hex')}`;

/** Every table of the test database whose rows, as text, contain the value. */
async function tablesContaining(value: string): Promise<string[]> {
  const { rows: tables } = await p.clients.pool.query<{ table_name: string }>(
    `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`,
  );
  expect(tables.length).toBeGreaterThan(5);
  const found: string[] = [];
  for (const { table_name } of tables) {
    const { rows } = await p.clients.pool.query(`SELECT count(*)::int AS n FROM "${table_name}" t WHERE position($1 in t::text) > 0`, [value]);
    if (rows[0].n > 0) found.push(table_name);
  }
  return found;
}

async function importAndWait(body: Record<string, unknown>): Promise<{ importId: string; status: string }> {
  const res = await p.api<{ import_id: string }>('POST', '/org/import', body);
  expect(res.status).toBe(202);
  return waitFor('import finished', async () => {
    const v = await p.api<{ status: string }>('GET', `/org/imports/${res.body.import_id}`);
    return v.body.status !== 'running' ? { importId: res.body.import_id, status: v.body.status } : null;
  }, 120_000);
}

async function secretsOf(importId: string, name: string): Promise<Record<string, string>> {
  const { rows } = await p.clients.pool.query<{ id: string }>('SELECT id FROM workspaces WHERE org_import_id = $1 AND name = $2', [importId, name]);
  return (await p.clients.store.loadSecrets(rows[0].id)).workspace;
}

describe('import env values at rest', () => {
  it('are stored only encrypted: no table and no workflow history holds them in clear', async () => {
    const orgValue = unique('org-secret');
    const wsValue = unique('ws-secret');
    const template = {
      name: 'At Rest Org',
      defaults: { runtime: 'external', env: { AT_REST_ORG: orgValue } },
      workspaces: [{ name: 'At Rest Lead', env: { AT_REST_WS: wsValue }, children: [{ name: 'At Rest Member' }] }],
    };
    const run = await importAndWait({ template });
    expect(run.status).toBe('completed');

    // The values arrived where they belong, and can be read back with the key.
    expect(await secretsOf(run.importId, 'At Rest Lead')).toMatchObject({ AT_REST_ORG: orgValue, AT_REST_WS: wsValue });
    expect(await secretsOf(run.importId, 'At Rest Member')).toMatchObject({ AT_REST_ORG: orgValue });

    for (const value of [orgValue, wsValue]) expect(await tablesContaining(value)).toEqual([]);
    const history = await p.temporal.workflow.getHandle(`org-import-${run.importId}`).fetchHistory();
    expect(JSON.stringify(history)).not.toContain(orgValue);
    expect(JSON.stringify(history)).not.toContain(wsValue);

    const { rows } = await p.clients.pool.query<{ template: OrgTemplate; snapshot_format: number }>('SELECT template, snapshot_format FROM org_imports WHERE id = $1', [run.importId]);
    expect(rows[0].snapshot_format).toBe(SNAPSHOT_FORMAT.sealed);
    expect(readSnapshot(rows[0], p.clients.box).defaults.env).toEqual({ AT_REST_ORG: orgValue });
  });

  it('a failed import is retried from its sealed snapshot, and the retry keeps it sealed', async () => {
    const wsValue = unique('retry-secret');
    process.env.WORKSPACE_IMAGE_HERMES = 'localhost/does-not-exist:1';
    try {
      const template = {
        name: 'At Rest Retry Org',
        workspaces: [{ name: 'At Rest Retry Root', runtime: 'external', children: [{ name: 'At Rest Retry Worker', runtime: 'hermes', compute: 'docker', env: { AT_REST_RETRY: wsValue } }] }],
      };
      const first = await importAndWait({ template });
      expect(first.status).toBe('failed');
      delete process.env.WORKSPACE_IMAGE_HERMES;
      const retry = await p.api<{ import_id: string }>('POST', `/org/imports/${first.importId}/retry`, {});
      expect(retry.status).toBe(202);
      const view = await waitFor('retry finished', async () => {
        const v = await p.api<{ status: string }>('GET', `/org/imports/${retry.body.import_id}`);
        return v.body.status !== 'running' ? v.body : null;
      }, 120_000);
      expect(view.status).toBe('completed');
      const { rows } = await p.clients.pool.query<{ template: OrgTemplate; snapshot_format: number }>('SELECT template, snapshot_format FROM org_imports WHERE id = $1', [retry.body.import_id]);
      expect(rows[0].snapshot_format).toBe(SNAPSHOT_FORMAT.sealed);
      expect(readSnapshot(rows[0], p.clients.box).workspaces[0].children[0].env).toEqual({ AT_REST_RETRY: wsValue });
      expect(await secretsOf(first.importId, 'At Rest Retry Worker')).toMatchObject({ AT_REST_RETRY: wsValue });
      expect(await tablesContaining(wsValue)).toEqual([]);
      const { rows: worker } = await p.clients.pool.query<{ id: string }>(`SELECT id FROM workspaces WHERE name = 'At Rest Retry Worker' AND status <> 'removed'`);
      await removeWorkspaceContainer(p, worker[0].id);
    } finally {
      delete process.env.WORKSPACE_IMAGE_HERMES;
    }
  });

  it('snapshots written before the sealed format are sealed at worker start, and still read the same', async () => {
    const value = unique('legacy-secret');
    const template = { name: 'Legacy Org', defaults: { env: { LEGACY_KEY: value } }, required_env: [], recommended_env: [], warnings: [], workspaces: [] };
    const id = (await p.clients.pool.query<{ id: string }>('SELECT gen_random_uuid() AS id')).rows[0].id;
    await p.clients.pool.query(
      `INSERT INTO org_imports (id, mode, status, template_name, template, workflow_id, snapshot_format, org_key) VALUES ($1, 'merge', 'failed', 'Legacy Org', $2, $3, 1, 'legacy-org')`,
      [id, JSON.stringify(template), `org-import-${id}`],
    );
    expect(await tablesContaining(value)).toEqual(['org_imports']);
    // A partial legacy row (no defaults, no workspaces) must not stop the worker's start.
    const partial = (await p.clients.pool.query<{ id: string }>('SELECT gen_random_uuid() AS id')).rows[0].id;
    await p.clients.pool.query(
      `INSERT INTO org_imports (id, mode, status, template_name, template, workflow_id, snapshot_format, org_key) VALUES ($1, 'merge', 'failed', 'P', '{}'::jsonb, $2, 1, 'p')`,
      [partial, `org-import-${partial}`],
    );
    expect(await sealLegacySnapshots(p.clients.pool, p.clients.box)).toBeGreaterThanOrEqual(2);
    expect(await sealLegacySnapshots(p.clients.pool, p.clients.box)).toBe(0);
    expect(await tablesContaining(value)).toEqual([]);
    const { rows } = await p.clients.pool.query<{ template: OrgTemplate; snapshot_format: number }>('SELECT template, snapshot_format FROM org_imports WHERE id = $1', [id]);
    expect(readSnapshot(rows[0], p.clients.box).defaults.env).toEqual({ LEGACY_KEY: value });
  });
});
