// Migrations from an empty database, and the database's enums checked against domain/vocabulary.ts.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { adminDatabaseUrl, listMigrations, migrate } from '../../db/migrate';
import { ACTIVITY_SOURCES, COMPUTE_KINDS, DELIVERY_MODES, IDEMPOTENCY_STATES, IMPORT_ITEM_OUTCOMES, ORG_IMPORT_MODES, ORG_IMPORT_STATUSES, RUNTIMES, UPDATE_TIERS, WORKSPACE_ORIGINS, WORKSPACE_STATUSES } from '../../domain/vocabulary';
import { testServers } from '../harness/servers';

const dbName = `molecule_mig_${randomBytes(4).toString('hex')}`;
let adminUrl: string;
let url: string;

beforeAll(async () => {
  const base = new URL(testServers().databaseUrl);
  adminUrl = adminDatabaseUrl(base.toString());
  base.pathname = `/${dbName}`;
  url = base.toString();
  const admin = new Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${dbName}`);
  await admin.end();
});

afterAll(async () => {
  const admin = new Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
  await admin.end();
});

async function withDb<T>(fn: (c: Client) => Promise<T>): Promise<T> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** Values listed in a CHECK (col IN (...)) constraint, read back from the catalog. */
async function checkValues(c: Client, constraint: string): Promise<string[]> {
  const { rows } = await c.query<{ def: string }>('SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE conname = $1', [constraint]);
  expect(rows).toHaveLength(1);
  return [...rows[0].def.matchAll(/'([^']+)'::text/g)].map((m) => m[1]).sort();
}

describe('migrations', () => {
  it('apply from empty, in order, and a second run is a no-op', async () => {
    const applied = await migrate(url);
    expect(applied).toEqual(listMigrations().map((m) => m.name));
    expect(await migrate(url)).toEqual([]);
    const tables = await withDb(async (c) => (await c.query(`SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1`)).rows.map((r) => r.tablename));
    expect(tables).toEqual(
      expect.arrayContaining([
        'activity_logs', 'canvas_layouts', 'global_secrets', 'idempotency_keys', 'org_import_items', 'org_imports', 'schema_migrations', 'structure_events',
        'workspace_auth_tokens', 'workspace_schedules', 'workspace_secrets', 'workspaces',
      ]),
    );
  });

  it('concurrent migrators do not race (advisory lock)', async () => {
    const results = await Promise.all([migrate(url), migrate(url), migrate(url)]);
    expect(results.flat()).toEqual([]);
  });

  it('database enums equal the TypeScript vocabulary (one source of truth)', async () => {
    await withDb(async (c) => {
      expect(await checkValues(c, 'workspaces_status_check')).toEqual([...WORKSPACE_STATUSES].sort());
      expect(await checkValues(c, 'workspaces_runtime_check')).toEqual([...RUNTIMES].sort());
      expect(await checkValues(c, 'workspaces_compute_check')).toEqual([...COMPUTE_KINDS].sort());
      expect(await checkValues(c, 'workspaces_delivery_mode_check')).toEqual([...DELIVERY_MODES].sort());
      expect(await checkValues(c, 'workspaces_update_tier_check')).toEqual([...UPDATE_TIERS].sort());
      expect(await checkValues(c, 'org_imports_mode_check')).toEqual([...ORG_IMPORT_MODES].sort());
      expect(await checkValues(c, 'org_imports_status_check')).toEqual([...ORG_IMPORT_STATUSES].sort());
      expect(await checkValues(c, 'org_import_items_outcome_check')).toEqual([...IMPORT_ITEM_OUTCOMES].sort());
      expect(await checkValues(c, 'workspaces_origin_check')).toEqual([...WORKSPACE_ORIGINS].sort());
      expect(await checkValues(c, 'idempotency_keys_state_check')).toEqual([...IDEMPOTENCY_STATES].sort());
      expect(await checkValues(c, 'activity_logs_source_check')).toEqual([...ACTIVITY_SOURCES].sort());
    });
  });

  it('the database rejects a drifted status and a plaintext-looking token hash', async () => {
    await withDb(async (c) => {
      await expect(c.query(`INSERT INTO workspaces (name, runtime, compute, status) VALUES ('x', 'codex', 'docker', 'Online')`)).rejects.toThrow(/workspaces_status_check/);
      const { rows } = await c.query(`INSERT INTO workspaces (name, runtime, compute) VALUES ('x', 'codex', 'docker') RETURNING id`);
      await expect(c.query(`INSERT INTO workspace_auth_tokens (workspace_id, token_hash) VALUES ($1, 'mol_plaintext')`, [rows[0].id])).rejects.toThrow(/check/);
      await expect(c.query(`UPDATE workspaces SET status = 'removed' WHERE id = $1`, [rows[0].id])).rejects.toThrow(/check/); // removed needs removed_at
    });
  });

  it('005 backfills provenance: imported rows get origin import and their import\'s org key, the rest api', async () => {
    const name = `molecule_mig5_${randomBytes(4).toString('hex')}`;
    const base = new URL(url);
    base.pathname = `/${name}`;
    const admin = new Client({ connectionString: adminUrl });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    const before = mkdtempSync(join(tmpdir(), 'migrations-before-005-'));
    const c = new Client({ connectionString: base.toString() });
    try {
      for (const m of listMigrations().filter((m) => m.version < 5)) writeFileSync(join(before, `${m.name}.sql`), m.sql);
      await migrate(base.toString(), before);
      await c.connect();
      const imports = await c.query<{ id: string }>(
        `INSERT INTO org_imports (id, mode, template_name, template, workflow_id) VALUES
           (gen_random_uuid(), 'merge', 'Old Org', '{"name":"Old Org","workspaces":[]}', 'w1') RETURNING id`,
      );
      const importId = imports.rows[0].id;
      await c.query(`INSERT INTO workspaces (name, runtime, compute, org_import_id) VALUES ('imported', 'codex', 'docker', $1)`, [importId]);
      await c.query(`INSERT INTO workspaces (name, runtime, compute) VALUES ('by api', 'codex', 'docker')`);

      expect(await migrate(base.toString())).toEqual(listMigrations().filter((m) => m.version >= 5).map((m) => m.name));
      const { rows } = await c.query('SELECT name, origin, org_key, org_import_id FROM workspaces ORDER BY name');
      expect(rows).toEqual([
        { name: 'by api', origin: 'api', org_key: null, org_import_id: null },
        { name: 'imported', origin: 'import', org_key: 'Old Org', org_import_id: importId },
      ]);
      expect((await c.query('SELECT org_key FROM org_imports')).rows).toEqual([{ org_key: 'Old Org' }]);
      // The provenance is consistent by construction: an import row without its org is refused.
      await expect(c.query(`INSERT INTO workspaces (name, runtime, compute, origin) VALUES ('x', 'codex', 'docker', 'import')`)).rejects.toThrow(/workspaces_provenance_check/);
      await expect(c.query(`INSERT INTO workspaces (name, runtime, compute, org_key) VALUES ('x', 'codex', 'docker', 'k')`)).rejects.toThrow(/workspaces_provenance_check/);
    } finally {
      await c.end().catch(() => undefined);
      rmSync(before, { recursive: true, force: true });
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
    }
  });
});
