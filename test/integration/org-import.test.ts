// Org import end to end: a real template tree on disk with includes, env preflight, Docker and
// external workspaces provisioned through child workflows, merge re-import, reconcile, spawning:false,
// parse rejections, a failed import retried after the fix, SSE progress, and replay.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { containerExists, removeWorkspaceContainer } from './support/compute';
import { replayAndMaybeRecord } from './support/histories';
import { ADMIN_TOKEN, startExtraApi, startPlatform, waitFor, type Platform } from './support/platform';

let p: Platform;
let root: string;

function writeTemplate(dir: string, files: Record<string, string>): void {
  for (const [rel, text] of Object.entries(files)) {
    const path = join(root, dir, rel);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text);
  }
}

const ACME = {
  'org.yaml': `name: Acme
description: three levels with includes
defaults:
  runtime: external
  env: { ORG_LEVEL: org, SHARED: from-org }
required_env:
  - any_of: [IMPORT_TEST_KEY, IMPORT_TEST_ALT]
workspaces:
  - name: Acme CEO
    canvas: { x: 10, y: 20 }
    schedules:
      - { cron: "0 9 * * *", prompt: "daily standup" }
    children:
      - !include teams/eng.yaml
      - !include teams/research.yaml
`,
  'teams/eng.yaml': `name: Eng Lead
runtime: claude-code
compute: docker
runtime_config: { provision_timeout_seconds: 900 }
env: { SHARED: from-workspace }
children:
  - !include backend.yaml
`,
  'teams/backend.yaml': `name: Backend Dev
runtime: codex
compute: docker
canvas: { x: 5, y: 6 }
`,
  'teams/research.yaml': `name: Research Lead
spawning: false
children:
  - name: Researcher
`,
};

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'org-templates-'));
  writeTemplate('acme', ACME);
  p = await startPlatform({ env: { TEMPLATES_ROOT: root } });
});
afterAll(async () => {
  await p?.close();
  rmSync(root, { recursive: true, force: true });
});

interface ImportView {
  status: string;
  org_key: string;
  created_count: number;
  skipped_count: number;
  failed_count: number;
  reconcile_removed_count: number;
  reconcile_kept: Array<{ workspace_id: string; name: string; not_removable: number }>;
  error: string | null;
  items: Array<{ key: string; workspace_id: string | null; outcome: string; error: string | null; workspace_status: string | null }>;
}

async function runImport(body: Record<string, unknown>): Promise<{ importId: string; view: ImportView }> {
  const res = await p.api<{ import_id: string; workflow_id: string }>('POST', '/org/import', body);
  if (res.status !== 202) throw new Error(`import answered ${res.status}: ${JSON.stringify(res.body)}`);
  const view = await waitFor(
    'import finished',
    async () => {
      const v = await p.api<ImportView>('GET', `/org/imports/${res.body.import_id}`);
      return v.body.status !== 'running' ? v.body : null;
    },
    120_000,
  );
  return { importId: res.body.import_id, view };
}

async function eventsOf(importId: string): Promise<Array<{ event_type: string; payload: Record<string, unknown> }>> {
  const { rows } = await p.clients.pool.query('SELECT event_type, payload FROM structure_events WHERE org_import_id = $1 ORDER BY id', [importId]);
  return rows;
}

async function workspaceByName(name: string) {
  const { rows } = await p.clients.pool.query(`SELECT * FROM workspaces WHERE name = $1 AND status <> 'removed' ORDER BY created_at`, [name]);
  return rows;
}

describe('org import', () => {
  it('preflight: missing required env answers 412 with the names, creates nothing, records the event pair', async () => {
    const before = await p.clients.pool.query('SELECT count(*)::int AS n FROM workspaces');
    const res = await p.api<{ missing_env: string[]; import_id: string }>('POST', '/org/import', { dir: 'acme' });
    expect(res.status).toBe(412);
    expect(res.body.missing_env).toEqual(['IMPORT_TEST_ALT|IMPORT_TEST_KEY']);
    // A13.2: everything the template requires, its name and what to do.
    expect(res.body).toMatchObject({ required_env: ['IMPORT_TEST_ALT|IMPORT_TEST_KEY'], template: 'Acme', suggestion: expect.stringContaining('/settings/secrets') });
    const after = await p.clients.pool.query('SELECT count(*)::int AS n FROM workspaces');
    expect(after.rows[0].n).toBe(before.rows[0].n);
    // The template parsed, so the pair is recorded (with the error); nothing else is.
    const events = await eventsOf(res.body.import_id);
    expect(events.map((e) => e.event_type)).toEqual(['org.import.started', 'org.import.completed']);
    expect(events[1].payload).toMatchObject({ error: 'missing required env', created: 0 });
    const imports = await p.clients.pool.query('SELECT count(*)::int AS n FROM org_imports WHERE id = $1', [res.body.import_id]);
    expect(imports.rows[0].n).toBe(0);
  });

  it('imports a 3-level tree with includes: Docker and external workspaces, layouts, schedules, env layering', async () => {
    await p.api('PUT', '/admin/secrets/IMPORT_TEST_KEY', { value: 'set' });
    const { importId, view } = await runImport({ dir: 'acme' });
    expect(view).toMatchObject({ status: 'completed', created_count: 3, skipped_count: 2, failed_count: 0, error: null });
    const byKey = Object.fromEntries(view.items.map((i) => [i.key, i]));
    expect(byKey['Acme CEO'].outcome).toBe('created');
    expect(byKey['Acme CEO/Eng Lead'].outcome).toBe('online');
    expect(byKey['Acme CEO/Research Lead'].outcome).toBe('not_spawned');
    expect(byKey['Acme CEO/Research Lead/Researcher'].outcome).toBe('not_spawned');

    const [ceo] = await workspaceByName('Acme CEO');
    const [eng] = await workspaceByName('Eng Lead');
    const [backend] = await workspaceByName('Backend Dev');
    expect(ceo).toMatchObject({ status: 'awaiting_agent', compute: 'none', parent_id: null });
    expect(eng).toMatchObject({ status: 'online', compute: 'docker', parent_id: ceo.id, provision_timeout_seconds: 900 });
    expect((await p.api<{ provision_timeout_seconds: number }>('GET', `/workspaces/${eng.id}`)).body.provision_timeout_seconds).toBe(900);
    expect(backend).toMatchObject({ status: 'online', compute: 'docker', parent_id: eng.id });
    expect(await workspaceByName('Research Lead')).toEqual([]); // spawning: false, no side effects
    expect(await containerExists(p, eng.id)).toBe(true);

    // A13.2: the template's canvas is parent-relative; layouts store absolute positions (CEO at 10,20,
    // Eng Lead without a canvas at its parent's, Backend Dev 5,6 from there).
    const layout = await p.clients.pool.query('SELECT x, y FROM canvas_layouts WHERE workspace_id = $1', [backend.id]);
    expect(layout.rows).toEqual([{ x: 15, y: 26 }]);
    // Each workspace the import creates for provisioning is announced with its place (parent-relative x/y).
    const announced = await p.clients.pool.query(
      `SELECT workspace_id, payload FROM structure_events WHERE workspace_id = ANY($1::uuid[]) AND dedupe_key LIKE $2 ORDER BY id`,
      [[eng.id, backend.id], `${importId}:%:provisioning`],
    );
    expect(announced.rows).toEqual([
      { workspace_id: eng.id, payload: { name: 'Eng Lead', tier: 1, runtime: 'claude-code', x: 0, y: 0, parent_id: ceo.id } },
      { workspace_id: backend.id, payload: { name: 'Backend Dev', tier: 1, runtime: 'codex', x: 5, y: 6, parent_id: eng.id } },
    ]);
    const schedules = await p.clients.pool.query('SELECT cron, prompt, enabled FROM workspace_schedules WHERE workspace_id = $1', [ceo.id]);
    expect(schedules.rows).toEqual([{ cron: '0 9 * * *', prompt: 'daily standup', enabled: true }]);
    const secrets = await p.clients.store.loadSecrets(eng.id);
    expect(secrets.workspace).toMatchObject({ ORG_LEVEL: 'org', SHARED: 'from-workspace' });

    const events = await eventsOf(importId);
    expect(events.map((e) => e.event_type)).toEqual(['org.import.started', 'org.import.completed']);
    expect(events[0].payload).toMatchObject({ name: 'Acme', mode: 'merge' });
    expect(events[1].payload).toMatchObject({ mode: 'merge', created: 3, skipped: 2, reconcile_removed: 0, error: null, duration_ms: expect.any(Number) });
    await replayAndMaybeRecord(p.temporal, `org-import-${importId}`, undefined, 'org-import-acme');
  });

  it('re-import in merge mode creates nothing new', async () => {
    const { view } = await runImport({ dir: 'acme', mode: '' });
    expect(view).toMatchObject({ status: 'completed', created_count: 0, skipped_count: 5 });
    expect(await workspaceByName('Eng Lead')).toHaveLength(1);
  });

  it('reconcile removes a subtree the template dropped, with its container', async () => {
    writeTemplate('acme-slim', { ...ACME, 'teams/eng.yaml': ACME['teams/eng.yaml'].replace(/children:[\s\S]*/, '') });
    // A workspace that only exists outside the template, under an imported parent, with compute.
    const [eng] = await workspaceByName('Eng Lead');
    const [backend] = await workspaceByName('Backend Dev');
    const { view } = await runImport({ dir: 'acme-slim', mode: 'reconcile' });
    expect(view.status).toBe('completed');
    expect(view.reconcile_removed_count).toBe(1);
    const { rows } = await p.clients.pool.query('SELECT status FROM workspaces WHERE id = $1', [backend.id]);
    expect(rows[0].status).toBe('removed');
    expect(await containerExists(p, backend.id)).toBe(false);
    expect(await containerExists(p, eng.id)).toBe(true);
    expect((await workspaceByName('Eng Lead'))[0].id).toBe(eng.id);
    // Re-running reconcile is a no-op.
    const again = await runImport({ dir: 'acme-slim', mode: 'reconcile' });
    expect(again.view).toMatchObject({ status: 'completed', created_count: 0, reconcile_removed_count: 0 });
    await removeWorkspaceContainer(p, eng.id);
  });

  it('rejects include escapes, cycles, too-deep includes and inline includes with 400 and no events', async () => {
    writeTemplate('escape', { 'org.yaml': 'name: X\nworkspaces:\n  - !include ../../etc/passwd\n' });
    writeTemplate('cycle', { 'org.yaml': 'name: X\nworkspaces:\n  - !include a.yaml\n', 'a.yaml': 'name: A\nchildren:\n  - !include a.yaml\n' });
    const deep: Record<string, string> = { 'org.yaml': 'name: X\nworkspaces:\n  - !include d1.yaml\n' };
    for (let i = 1; i <= 17; i++) deep[`d${i}.yaml`] = `name: D${i}\nchildren:\n  - !include d${i + 1}.yaml\n`;
    deep['d18.yaml'] = 'name: Bottom\n';
    writeTemplate('deep', deep);
    const eventsBefore = await p.clients.pool.query(`SELECT count(*)::int AS n FROM structure_events WHERE event_type LIKE 'org.import.%'`);
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ dir: 'escape' }, 'include_escape'],
      [{ dir: 'cycle' }, 'include_cycle'],
      [{ dir: 'deep' }, 'include_depth'],
      [{ template: { name: 'X', workspaces: [{ '!include': 'a.yaml' }] } }, 'include_without_base'],
    ];
    for (const [body, code] of cases) {
      const res = await p.api<{ code: string; template_error: string }>('POST', '/org/import', body);
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ code: 'INVALID_TEMPLATE', template_error: code });
      expect(JSON.stringify(res.body)).not.toContain('passwd');
    }
    for (const dir of ['../etc', '/etc', 'a/../../b']) {
      const res = await p.api('POST', '/org/import', { dir });
      expect(res.status).toBe(400);
      expect(JSON.stringify(res.body)).not.toContain(dir);
    }
    const missing = await p.api('POST', '/org/import', { dir: 'no-such-template' });
    expect(missing.status).toBe(404);
    expect(JSON.stringify(missing.body)).not.toContain('no-such-template');
    const eventsAfter = await p.clients.pool.query(`SELECT count(*)::int AS n FROM structure_events WHERE event_type LIKE 'org.import.%'`);
    expect(eventsAfter.rows[0].n).toBe(eventsBefore.rows[0].n);
  });

  it('an import that fails half-way (image missing) is retried after the fix without duplicates', async () => {
    process.env.WORKSPACE_IMAGE_HERMES = 'localhost/does-not-exist:1';
    try {
      const template = {
        name: 'Retry Org',
        workspaces: [{ name: 'Retry Root', runtime: 'external', children: [{ name: 'Retry Worker', runtime: 'hermes', compute: 'docker' }, { name: 'Retry Ok', runtime: 'codex', compute: 'docker' }] }],
      };
      const first = await runImport({ template });
      expect(first.view).toMatchObject({ status: 'failed', created_count: 3, failed_count: 1 });
      const failedItem = first.view.items.find((i) => i.key === 'Retry Root/Retry Worker');
      expect(failedItem).toMatchObject({ outcome: 'failed', error: 'The workspace image for this runtime is not available on the compute host.' });

      delete process.env.WORKSPACE_IMAGE_HERMES; // the fix
      const retry = await p.api<{ import_id: string; retry_of: string }>('POST', `/org/imports/${first.importId}/retry`, {});
      expect(retry.status).toBe(202);
      expect(retry.body.retry_of).toBe(first.importId);
      const view = await waitFor('retry finished', async () => {
        const v = await p.api<ImportView>('GET', `/org/imports/${retry.body.import_id}`);
        return v.body.status !== 'running' ? v.body : null;
      }, 120_000);
      expect(view).toMatchObject({ status: 'completed', created_count: 0, failed_count: 0 });
      for (const name of ['Retry Root', 'Retry Worker', 'Retry Ok']) expect(await workspaceByName(name)).toHaveLength(1);
      const [worker] = await workspaceByName('Retry Worker');
      expect(worker.status).toBe('online');
      expect((await p.api('POST', `/org/imports/${retry.body.import_id}/retry`, {})).status).toBe(409);
      for (const name of ['Retry Worker', 'Retry Ok']) await removeWorkspaceContainer(p, (await workspaceByName(name))[0].id);
    } finally {
      delete process.env.WORKSPACE_IMAGE_HERMES;
    }
  });

  it('streams progress as Server-Sent Events and lists templates with include-expanded counts', async () => {
    const res = await p.api<{ import_id: string }>('POST', '/org/import', { template: { name: 'SSE Org', workspaces: [{ name: 'SSE A', runtime: 'external' }] } });
    const stream = await fetch(`${p.url}/org/imports/${res.body.import_id}/events`, { headers: { authorization: 'Bearer test-admin-token-0123456789' } });
    expect(stream.headers.get('content-type')).toContain('text/event-stream');
    const text = await stream.text();
    expect(text).toContain('event: progress');
    expect(text).toMatch(/event: done\ndata: \{"status":"completed"/);
    // The event format clients parse: these fields, in this order.
    const events = [...text.matchAll(/event: (\w+)\ndata: (.*)\n\n/g)].map(([, name, data]) => ({ name, data: JSON.parse(data) as Record<string, unknown> }));
    for (const e of events.filter((e) => e.name === 'progress')) {
      expect(Object.keys(e.data)).toEqual(['status', 'progress', 'created', 'skipped', 'failed', 'reconcile_removed']);
    }
    expect(events.at(-1)).toEqual({ name: 'done', data: { status: 'completed', error: null } });
    expect(events.at(-2)?.data).toMatchObject({ status: 'completed', progress: null, created: 1, skipped: 0, failed: 0, reconcile_removed: 0 });

    const templates = await p.api<{ templates: Array<{ dir: string; workspaces: number }> }>('GET', '/org/templates');
    expect(templates.body.templates.find((t) => t.dir === 'acme')?.workspaces).toBe(5);
  });
});

describe('org import: ownership (provenance)', () => {
  const itemId = (view: ImportView, key: string): string => view.items.find((i) => i.key === key)?.workspace_id as string;
  const statusOf = async (id: string): Promise<string> => (await p.clients.pool.query('SELECT status FROM workspaces WHERE id = $1', [id])).rows[0].status;
  async function createThroughApi(name: string, parentId?: string): Promise<{ id: string; token: string }> {
    const res = await p.api<{ workspace: { id: string }; auth_token: string }>('POST', '/workspaces', { name, runtime: 'external', ...(parentId ? { parent_id: parentId } : {}) });
    expect(res.status).toBe(201);
    return { id: res.body.workspace.id, token: res.body.auth_token };
  }

  it('reconcile never removes an API-created workspace, another org\'s same-named one or a hand-added child (issue repro)', async () => {
    // An online top-level QA created through the API.
    const qa = await createThroughApi('QA');
    expect((await p.api('POST', '/registry/register', { workspace_id: qa.id }, qa.token)).status).toBe(200);
    const viewed = await p.api<Record<string, unknown>>('GET', `/workspaces/${qa.id}`);
    expect(viewed.body).toMatchObject({ status: 'online', origin: 'api', org_key: null, org_import_id: null });
    // Another org owns a QA too.
    const third = await runImport({ template: { name: 'Third Org', workspaces: [{ name: 'QA', runtime: 'external' }] } });
    const thirdQa = itemId(third.view, 'QA');

    const template = { name: 'Other Org', workspaces: [{ name: 'Other Lead', runtime: 'external', children: [{ name: 'QA', runtime: 'external' }] }] };
    const repro = await runImport({ mode: 'reconcile', template });
    expect(repro.view).toMatchObject({ status: 'completed', org_key: 'Other Org', created_count: 2, reconcile_removed_count: 0, reconcile_kept: [] });
    expect(await statusOf(qa.id)).toBe('online');
    expect(await statusOf(thirdQa)).toBe('awaiting_agent');
    // Merge dedupe did not adopt either foreign QA: the org got its own.
    const otherQa = itemId(repro.view, 'Other Lead/QA');
    expect([qa.id, thirdQa]).not.toContain(otherQa);
    const lead = itemId(repro.view, 'Other Lead');
    expect((await p.api<Record<string, unknown>>('GET', `/workspaces/${lead}`)).body).toMatchObject({ origin: 'import', org_key: 'Other Org', org_import_id: repro.importId });
    const listed = await p.api<{ workspaces: Array<{ id: string; origin: string; org_key: string | null; org_import_id: string | null }> }>('GET', '/workspaces?limit=1000');
    expect(listed.body.workspaces.find((w) => w.id === otherQa)).toMatchObject({ origin: 'import', org_key: 'Other Org', org_import_id: repro.importId });
    expect(listed.body.workspaces.find((w) => w.id === qa.id)).toMatchObject({ origin: 'api', org_key: null, org_import_id: null });

    // A child a user adds by hand under an imported workspace is not the org's to remove.
    const hand = await createThroughApi('Hand Added', lead);
    const again = await runImport({ mode: 'reconcile', template });
    expect(again.view).toMatchObject({ status: 'completed', created_count: 0, reconcile_removed_count: 0, reconcile_kept: [] });
    for (const id of [qa.id, thirdQa, otherQa, lead, hand.id]) expect(await statusOf(id)).not.toBe('removed');
  });

  it('reconcile removes the org\'s own dropped workspaces, keeps (and reports) one holding a hand-added child; re-running is a no-op', async () => {
    const v1 = {
      name: 'Drop Org',
      org_key: 'drop-org',
      workspaces: [
        {
          name: 'Keep Root',
          runtime: 'external',
          children: [
            { name: 'Dropped Leaf', runtime: 'external' },
            { name: 'Dropped Team', runtime: 'external', children: [{ name: 'Team Member', runtime: 'external' }] },
          ],
        },
        { name: 'Dropped Root', runtime: 'external' },
      ],
    };
    const first = await runImport({ template: v1 });
    expect(first.view).toMatchObject({ status: 'completed', org_key: 'drop-org', created_count: 5 });
    const team = itemId(first.view, 'Keep Root/Dropped Team');
    const hand = await createThroughApi('Hand Added Under Team', team);
    // A same-named workspace through the API: not the org's, whatever its name.
    const apiTwin = await createThroughApi('Dropped Leaf');

    // Same org key, another display name: the same org.
    const v2 = { name: 'Drop Org (renamed)', org_key: 'drop-org', workspaces: [{ name: 'Keep Root', runtime: 'external' }] };
    const second = await runImport({ mode: 'reconcile', template: v2 });
    expect(second.view).toMatchObject({ status: 'completed', created_count: 0, skipped_count: 1 });
    expect(second.view.reconcile_removed_count).toBe(3); // Dropped Leaf, Team Member, Dropped Root
    expect(second.view.reconcile_kept).toEqual([{ workspace_id: team, name: 'Dropped Team', not_removable: 1 }]);
    for (const key of ['Keep Root/Dropped Leaf', 'Keep Root/Dropped Team/Team Member', 'Dropped Root']) expect(await statusOf(itemId(first.view, key))).toBe('removed');
    for (const id of [itemId(first.view, 'Keep Root'), team, hand.id, apiTwin.id]) expect(await statusOf(id)).not.toBe('removed');
    expect(itemId(second.view, 'Keep Root')).toBe(itemId(first.view, 'Keep Root'));

    const third = await runImport({ mode: 'reconcile', template: v2 });
    expect(third.view).toMatchObject({ status: 'completed', created_count: 0, reconcile_removed_count: 0 });
    expect(third.view.reconcile_kept).toEqual(second.view.reconcile_kept);
  });

  it('reconcile runs only after an error-free provisioning loop: a failed item keeps the dropped workspaces', async () => {
    const first = await runImport({ template: { name: 'Gate Org', workspaces: [{ name: 'Gate Root', runtime: 'external', children: [{ name: 'Gate Dropped', runtime: 'external' }] }] } });
    const dropped = itemId(first.view, 'Gate Root/Gate Dropped');
    process.env.WORKSPACE_IMAGE_HERMES = 'localhost/does-not-exist:1';
    try {
      const second = await runImport({
        mode: 'reconcile',
        template: { name: 'Gate Org', workspaces: [{ name: 'Gate Root', runtime: 'external', children: [{ name: 'Gate Broken', runtime: 'hermes', compute: 'docker' }] }] },
      });
      expect(second.view).toMatchObject({ status: 'failed', failed_count: 1, reconcile_removed_count: 0 });
      expect(await statusOf(dropped)).toBe('awaiting_agent');
    } finally {
      delete process.env.WORKSPACE_IMAGE_HERMES;
    }
  });

  it('empty-set guards: a reconcile with no template names or no result ids removes nothing', async () => {
    const first = await runImport({ template: { name: 'Guard Org', workspaces: [{ name: 'G1', runtime: 'external' }] } });
    const g1 = itemId(first.view, 'G1');
    const noIds = await runImport({ mode: 'reconcile', template: { name: 'Guard Org', workspaces: [{ name: 'G2', runtime: 'external', spawning: false }] } });
    expect(noIds.view).toMatchObject({ status: 'completed', reconcile_removed_count: 0 });
    const noNames = await runImport({ mode: 'reconcile', template: { name: 'Guard Org', workspaces: [] } });
    expect(noNames.view).toMatchObject({ status: 'completed', reconcile_removed_count: 0 });
    expect(await statusOf(g1)).toBe('awaiting_agent');
  });

  it('org_key must be a bounded slug (400 with the field, value not echoed)', async () => {
    for (const orgKey of ['Has Space', 'UPPER', '-lead', 'x'.repeat(65), 'ünï', '']) {
      const res = await p.api<{ code: string; template_error: string; path: string }>('POST', '/org/import', { template: { name: 'Slug Org', org_key: orgKey, workspaces: [] } });
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ code: 'INVALID_TEMPLATE', path: 'org_key' });
      if (orgKey.length > 3) expect(JSON.stringify(res.body)).not.toContain(orgKey);
    }
  });

  it('a tree that needs a compute provider the platform lacks is refused (400 COMPUTE_NOT_CONFIGURED), nothing created', async () => {
    const dockerOnly = await startExtraApi(p, { COMPUTE_PROVIDERS: 'docker' });
    try {
      const template = { name: 'Cloud Org', workspaces: [{ name: 'Cloud Root', runtime: 'external', children: [{ name: 'Cloud VM', runtime: 'codex', compute: 'ec2' }] }] };
      const res = await dockerOnly.app.inject({ method: 'POST', url: '/org/import', headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, payload: { template } });
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ code: 'COMPUTE_NOT_CONFIGURED', error: 'the template needs compute this platform has no provider for: ec2' });
      const { rows } = await p.clients.pool.query(`SELECT count(*)::int AS n FROM workspaces WHERE name IN ('Cloud Root', 'Cloud VM')`);
      expect(rows[0].n).toBe(0);
      // Not spawned, not needed: the same tree with the VM switched off is accepted.
      const off = { ...template, workspaces: [{ ...template.workspaces[0], children: [{ ...template.workspaces[0].children[0], spawning: false }] }] };
      expect((await dockerOnly.app.inject({ method: 'POST', url: '/org/import', headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, payload: { template: off } })).statusCode).toBe(202);
    } finally {
      await dockerOnly.close();
    }
  });
});

