// Issue #16 item 1, the management API (SPEC-ADDENDUM A11.1-2, A12, A13.1, A14) against the real API
// and Postgres: PATCH with an acyclic re-parent, budget, tokens, activity filters, cursor pages of
// GET /workspaces, template env lists and /buildinfo (503 platform_unavailable is in
// platform-unavailable.test.ts). Rows are created through the store (no compute is involved).
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ADMIN_TOKEN, startPlatform, type Platform } from './support/platform';

let p: Platform;
let templatesRoot: string;

beforeAll(async () => {
  templatesRoot = mkdtempSync(join(tmpdir(), 'mgmt-templates-'));
  mkdirSync(join(templatesRoot, 'envs'));
  writeFileSync(
    join(templatesRoot, 'envs', 'org.yaml'),
    [
      'name: Env Org',
      'description: an org that needs keys',
      'required_env: [ORG_KEY]',
      'recommended_env: [NICE_KEY, ORG_KEY]',
      'workspaces:',
      '  - name: lead',
      '    required_env: [LEAD_KEY, {any_of: [B_KEY, A_KEY]}]',
      '    recommended_env: [LEAD_KEY, EXTRA_KEY]',
      '    children:',
      '      - name: helper',
      '        recommended_env: [NICE_KEY, HELPER_KEY]',
      '',
    ].join('\n'),
  );
  p = await startPlatform({ worker: false, env: { TEMPLATES_ROOT: templatesRoot } });
});

afterAll(async () => {
  await p?.close();
  rmSync(templatesRoot, { recursive: true, force: true });
});

async function row(name: string, opts: { parentId?: string | null; runtime?: 'codex' | 'external' } = {}): Promise<string> {
  const runtime = opts.runtime ?? 'codex';
  const created = await p.clients.store.createWorkspace({
    name, role: '', tier: 1, runtime, compute: runtime === 'external' ? 'none' : 'docker', parentId: opts.parentId ?? null,
    deliveryMode: 'push', updateTier: 'production', model: null, budgetLimit: null, maxConcurrentTasks: 1, provisionTimeoutSeconds: null,
  });
  return created.id;
}

const remove = (id: string) => p.clients.store.markSubtreeRemoved(id);
const UNKNOWN = '3b9f6a1c-2e4d-4c8b-9f0a-0000000000aa';

interface WorkspaceView {
  id: string; name: string; role: string; tier: number; runtime: string; parent_id: string | null;
  collapsed: boolean; workspace_dir: string | null; x: number | null; y: number | null;
}

describe('admin token on every new route', () => {
  // Every row has three entries: jest takes a callback with more parameters than the row for `done`.
  const routes: Array<[string, string, unknown]> = [
    ['PATCH', `/workspaces/${UNKNOWN}`, { name: 'x' }],
    ['GET', `/workspaces/${UNKNOWN}/budget`, undefined],
    ['PATCH', `/workspaces/${UNKNOWN}/budget`, { budget_limit: 1 }],
    ['GET', `/workspaces/${UNKNOWN}/tokens`, undefined],
    ['POST', `/workspaces/${UNKNOWN}/tokens`, undefined],
    ['DELETE', `/workspaces/${UNKNOWN}/tokens/1`, undefined],
    ['GET', `/workspaces/${UNKNOWN}/activity`, undefined],
    ['GET', '/workspaces?limit=1', undefined],
    ['GET', '/org/templates', undefined],
  ];
  it.each(routes)('%s %s answers 401 without it or with a wrong one', async (method, path, body) => {
    expect((await p.api(method, path, body, null)).status).toBe(401);
    expect((await p.api(method, path, body, `${ADMIN_TOKEN}x`)).status).toBe(401);
  });

  it('GET /buildinfo is public and says dev without GIT_SHA', async () => {
    const res = await p.api('GET', '/buildinfo', undefined, null);
    expect(res).toEqual({ status: 200, body: { git_sha: 'dev' } });
  });
});

describe('PATCH /workspaces/:id (A12.1)', () => {
  it('updates the listed fields, records its event and a canvas activity entry, and ignores budget_limit', async () => {
    const parent = await row('patch parent');
    const id = await row('patch me');
    const res = await p.api('PATCH', `/workspaces/${id}`, {
      name: 'patched', role: 'reviewer', tier: 3, runtime: 'hermes', parent_id: parent, collapsed: true, x: 10.5, y: -4, budget_limit: 999,
    });
    expect(res).toEqual({ status: 200, body: { status: 'updated', needs_restart: true } });
    const view = (await p.api<WorkspaceView>('GET', `/workspaces/${id}`)).body;
    expect(view).toMatchObject({ name: 'patched', role: 'reviewer', tier: 3, runtime: 'hermes', parent_id: parent, collapsed: true, x: 10.5, y: -4 });
    // A12.2: GET /workspaces/:id carries no budget fields; budget_limit in a PATCH is ignored.
    expect(view).not.toHaveProperty('budget_limit');
    expect(view).not.toHaveProperty('monthly_spend');
    expect((await p.api('GET', `/workspaces/${id}/budget`)).body).toEqual({ budget_limit: null, monthly_spend: 0, budget_remaining: null });

    const events = await p.api<{ events: Array<{ type: string; payload: { fields: string[]; parent_id?: string } }> }>('GET', `/workspaces/${id}/events`);
    const updated = events.body.events.find((e) => e.type === 'WORKSPACE_UPDATED');
    expect(updated?.payload.fields).toEqual(['name', 'role', 'runtime', 'tier', 'parent_id', 'collapsed', 'x,y']);
    expect(updated?.payload.parent_id).toBe(parent);
    const activity = await p.api<{ entries: Array<{ action: string; source: string; source_id: string; target_id: string }> }>('GET', `/workspaces/${id}/activity?type=workspace.updated`);
    expect(activity.body.entries).toEqual([expect.objectContaining({ action: 'workspace.updated', source: 'canvas', source_id: id, target_id: parent })]);
  });

  it('workspace_dir: absolute, null clears, and the answer says a restart is needed', async () => {
    const id = await row('dir');
    expect((await p.api('PATCH', `/workspaces/${id}`, { workspace_dir: '/srv/agent' })).body).toEqual({ status: 'updated', needs_restart: true });
    expect((await p.api<WorkspaceView>('GET', `/workspaces/${id}`)).body.workspace_dir).toBe('/srv/agent');
    expect((await p.api('PATCH', `/workspaces/${id}`, { workspace_dir: null })).body).toEqual({ status: 'updated', needs_restart: true });
    expect((await p.api<WorkspaceView>('GET', `/workspaces/${id}`)).body.workspace_dir).toBeNull();
    expect((await p.api('PATCH', `/workspaces/${id}`, { collapsed: false })).body).toEqual({ status: 'updated' });
    const bad = await p.api<{ code: string; details: Array<{ field: string }> }>('PATCH', `/workspaces/${id}`, { workspace_dir: 'relative/dir' });
    expect(bad.status).toBe(400);
    expect(bad.body.details[0].field).toBe('body.workspace_dir');
  });

  it('answers 400 for a bad id or body, 404 for an unknown workspace, 410 for a removed one', async () => {
    expect((await p.api('PATCH', '/workspaces/not-a-uuid', { name: 'x' })).status).toBe(400);
    expect((await p.api('PATCH', `/workspaces/${UNKNOWN}`, { name: 'x' })).status).toBe(404);
    const id = await row('bad bodies');
    for (const body of [{}, { x: 1 }, { name: 'a\nb' }, { runtime: 'codex\n' }, { runtime: 'x'.repeat(65) }, { tier: 11 }, { parent_id: 'nope' }, { collapsed: 'yes' }]) {
      const res = await p.api<{ code: string }>('PATCH', `/workspaces/${id}`, body);
      expect([res.status, res.body.code]).toEqual([400, 'VALIDATION_FAILED']);
    }
    await remove(id);
    const gone = await p.api<{ code: string; id: string }>('PATCH', `/workspaces/${id}`, { name: 'x' });
    expect([gone.status, gone.body.code, gone.body.id]).toEqual([410, 'WORKSPACE_REMOVED', id]);
  });

  it('keeps the tree acyclic: never itself, a descendant, an unknown or a removed parent', async () => {
    const root = await row('tree root');
    const child = await row('tree child', { parentId: root });
    const grandchild = await row('tree grandchild', { parentId: child });
    const self = await p.api<{ code: string }>('PATCH', `/workspaces/${root}`, { parent_id: root });
    expect([self.status, self.body.code]).toEqual([400, 'INVALID_PARENT']);
    for (const descendant of [child, grandchild]) {
      const cycle = await p.api<{ code: string }>('PATCH', `/workspaces/${root}`, { parent_id: descendant });
      expect([cycle.status, cycle.body.code]).toEqual([409, 'PARENT_CYCLE']);
    }
    expect((await p.api('PATCH', `/workspaces/${root}`, { parent_id: UNKNOWN })).status).toBe(404);
    const removedParent = await row('removed parent');
    await remove(removedParent);
    const refused = await p.api<{ error: string }>('PATCH', `/workspaces/${child}`, { parent_id: removedParent });
    expect([refused.status, refused.body.error]).toEqual([404, 'parent workspace not found']);
    expect((await p.api<WorkspaceView>('GET', `/workspaces/${root}`)).body.parent_id).toBeNull();
    // Moving a grandchild up to be a root, and a sibling under it, are fine.
    expect((await p.api('PATCH', `/workspaces/${grandchild}`, { parent_id: null })).status).toBe(200);
    expect((await p.api('PATCH', `/workspaces/${root}`, { parent_id: grandchild })).status).toBe(200);
    expect((await p.api<WorkspaceView>('GET', `/workspaces/${root}`)).body.parent_id).toBe(grandchild);
  });

  it('two concurrent moves that would close a loop: exactly one wins', async () => {
    for (let i = 0; i < 8; i++) {
      const a = await row(`race a${i}`);
      const b = await row(`race b${i}`);
      const [ab, ba] = await Promise.all([
        p.api('PATCH', `/workspaces/${a}`, { parent_id: b }),
        p.api('PATCH', `/workspaces/${b}`, { parent_id: a }),
      ]);
      expect([ab.status, ba.status].sort()).toEqual([200, 409]);
      const { rows } = await p.clients.pool.query<{ id: string; parent_id: string | null }>('SELECT id, parent_id FROM workspaces WHERE id = ANY($1::uuid[])', [[a, b]]);
      expect(rows.filter((r) => r.parent_id !== null)).toHaveLength(1);
    }
  });

  it('refuses to switch between external and a runtime with compute (409)', async () => {
    const docker = await row('compute runtime');
    const external = await row('external runtime', { runtime: 'external' });
    for (const [id, runtime] of [[docker, 'external'], [external, 'codex']] as const) {
      const res = await p.api<{ code: string }>('PATCH', `/workspaces/${id}`, { runtime });
      expect([res.status, res.body.code]).toEqual([409, 'RUNTIME_CHANGE_REFUSED']);
    }
    expect((await p.api('PATCH', `/workspaces/${docker}`, { runtime: 'openclaw' })).status).toBe(200);
  });
});

describe('budget (A12.2)', () => {
  it('reads and sets the limit, remaining may be negative, null clears', async () => {
    const id = await row('budget');
    expect((await p.api('GET', `/workspaces/${id}/budget`)).body).toEqual({ budget_limit: null, monthly_spend: 0, budget_remaining: null });
    expect(await p.api('PATCH', `/workspaces/${id}/budget`, { budget_limit: 500 })).toEqual({ status: 200, body: { budget_limit: 500, monthly_spend: 0, budget_remaining: 500 } });
    await p.clients.pool.query('UPDATE workspaces SET monthly_spend = 700 WHERE id = $1', [id]);
    expect((await p.api('GET', `/workspaces/${id}/budget`)).body).toEqual({ budget_limit: 500, monthly_spend: 700, budget_remaining: -200 });
    expect((await p.api('PATCH', `/workspaces/${id}/budget`, { budget_limit: null })).body).toEqual({ budget_limit: null, monthly_spend: 700, budget_remaining: null });
    expect((await p.api('PATCH', `/workspaces/${id}/budget`, { budget_limit: 0 })).body).toEqual({ budget_limit: 0, monthly_spend: 700, budget_remaining: -700 });
    const audit = await p.api<{ entries: Array<{ details: { budget_limit: number | null } }> }>('GET', `/workspaces/${id}/activity?type=budget.updated`);
    expect(audit.body.entries.map((e) => e.details.budget_limit)).toEqual([0, null, 500]);
  });

  it('400 for a missing, negative or non-integer limit; 404 for unknown and removed workspaces', async () => {
    const id = await row('budget errors');
    for (const body of [{}, { budget_limit: -1 }, { budget_limit: 1.5 }, { budget_limit: '5' }, { budget_limit: 1e12 }, { other: 5 }]) {
      expect((await p.api('PATCH', `/workspaces/${id}/budget`, body)).status).toBe(400);
    }
    expect((await p.api('GET', `/workspaces/${id}/budget`)).body).toMatchObject({ budget_limit: null });
    expect((await p.api('GET', '/workspaces/nope/budget')).status).toBe(400);
    expect((await p.api('GET', `/workspaces/${UNKNOWN}/budget`)).status).toBe(404);
    expect((await p.api('PATCH', `/workspaces/${UNKNOWN}/budget`, { budget_limit: 1 })).status).toBe(404);
    await remove(id);
    expect((await p.api('GET', `/workspaces/${id}/budget`)).status).toBe(404);
    expect((await p.api('PATCH', `/workspaces/${id}/budget`, { budget_limit: 1 })).status).toBe(404);
  });
});

describe('tokens (A11.1-2)', () => {
  const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
  const heartbeat = (id: string, token: string) => p.api('POST', '/registry/heartbeat', { workspace_id: id }, token);

  it('a created token is shown once, stored as its sha256, listed by id and prefix, works, and is revoked', async () => {
    const id = await row('tokens');
    const created = await p.api<{ auth_token: string; workspace_id: string; message: string }>('POST', `/workspaces/${id}/tokens`);
    expect(created.status).toBe(201);
    expect(created.body).toEqual({ auth_token: expect.stringMatching(/^mol_[A-Za-z0-9_-]{43}$/), workspace_id: id, message: expect.any(String) });
    const token = created.body.auth_token;
    const stored = await p.clients.pool.query('SELECT token_hash, prefix FROM workspace_auth_tokens WHERE workspace_id = $1', [id]);
    expect(stored.rows).toEqual([{ token_hash: sha256(token), prefix: token.slice(0, 8) }]);

    const list = await p.api<{ tokens: Array<{ id: string; prefix: string; created_at: string; last_used_at: string | null }>; count: number }>('GET', `/workspaces/${id}/tokens`);
    expect(list.body).toEqual({ tokens: [{ id: expect.stringMatching(/^\d+$/), prefix: token.slice(0, 8), created_at: expect.any(String), last_used_at: null }], count: 1 });
    expect(JSON.stringify(list.body)).not.toContain(token);
    expect(JSON.stringify(list.body)).not.toContain(sha256(token));

    expect((await heartbeat(id, token)).status).toBe(200);
    expect((await p.api<{ tokens: Array<{ last_used_at: string | null }> }>('GET', `/workspaces/${id}/tokens`)).body.tokens[0].last_used_at).not.toBeNull();

    const tokenId = list.body.tokens[0].id;
    const other = await row('other tokens');
    expect((await p.api('DELETE', `/workspaces/${other}/tokens/${tokenId}`)).status).toBe(404);
    expect(await p.api('DELETE', `/workspaces/${id}/tokens/${tokenId}`)).toEqual({ status: 200, body: { status: 'revoked' } });
    expect((await heartbeat(id, token)).status).toBe(401);
    expect((await p.api('DELETE', `/workspaces/${id}/tokens/${tokenId}`)).status).toBe(404);
    expect((await p.api('GET', `/workspaces/${id}/tokens`)).body).toEqual({ tokens: [], count: 0 });
    const audit = await p.api<{ entries: Array<{ action: string; source: string; details: { token_id: string; prefix: string } }> }>('GET', `/workspaces/${id}/activity?source=canvas`);
    expect(audit.body.entries.map((e) => [e.action, e.details.token_id, e.details.prefix])).toEqual([
      ['token.revoked', tokenId, token.slice(0, 8)],
      ['token.created', tokenId, token.slice(0, 8)],
    ]);
  });

  it('tokens the platform mints (provision runs, re-mints) are listed with their prefix too', async () => {
    const id = await row('platform tokens');
    const run = await p.clients.store.beginProvisionRun({ workspaceId: id, runId: 'mgmt-run-1', runStartedAtMs: Date.now(), status: 'provisioning', timeoutSeconds: 600 });
    expect(run.outcome).toBe('begun');
    expect((await p.api<{ tokens: Array<{ prefix: string }> }>('GET', `/workspaces/${id}/tokens`)).body.tokens.map((t) => t.prefix)).toEqual([run.token.slice(0, 8)]);
    const minted = await p.clients.store.mintCredentials(id);
    expect((await p.api<{ tokens: Array<{ prefix: string }> }>('GET', `/workspaces/${id}/tokens`)).body.tokens.map((t) => t.prefix)).toEqual([minted.token.slice(0, 8)]);
  });

  it('at most 50 live tokens, also under concurrent requests (429 beyond), newest first in pages', async () => {
    const id = await row('token limit');
    const answers = await Promise.all(Array.from({ length: 56 }, () => p.api<{ code?: string }>('POST', `/workspaces/${id}/tokens`)));
    expect(answers.filter((a) => a.status === 201)).toHaveLength(50);
    const refused = answers.filter((a) => a.status !== 201);
    expect(refused.map((a) => [a.status, a.body.code])).toEqual(Array.from({ length: 6 }, () => [429, 'TOO_MANY_TOKENS']));

    const all = await p.api<{ tokens: Array<{ id: string; created_at: string }>; count: number }>('GET', `/workspaces/${id}/tokens?limit=200`);
    expect(all.body.count).toBe(50);
    expect(all.body.tokens).toHaveLength(50);
    const page = await p.api<{ tokens: Array<{ id: string }>; count: number }>('GET', `/workspaces/${id}/tokens`);
    expect(page.body.tokens).toHaveLength(50);
    const second = await p.api<{ tokens: Array<{ id: string }>; count: number }>('GET', `/workspaces/${id}/tokens?limit=20&offset=20`);
    expect(second.body).toEqual({ tokens: all.body.tokens.slice(20, 40).map((t) => expect.objectContaining({ id: t.id })), count: 50 });
    const times = all.body.tokens.map((t) => Date.parse(t.created_at));
    expect([...times].sort((a, b) => b - a)).toEqual(times);

    // Revoking one makes room for exactly one more.
    expect((await p.api('DELETE', `/workspaces/${id}/tokens/${all.body.tokens[0].id}`)).status).toBe(200);
    expect((await p.api('POST', `/workspaces/${id}/tokens`)).status).toBe(201);
    expect((await p.api('POST', `/workspaces/${id}/tokens`)).status).toBe(429);
  });

  it('400 for bad ids and limits, 404 unknown, 410 removed (and a removed workspace\'s tokens stop working)', async () => {
    for (const limit of ['0', '201', 'x', '-1']) expect((await p.api('GET', `/workspaces/${UNKNOWN}/tokens?limit=${limit}`)).status).toBe(400);
    expect((await p.api('GET', `/workspaces/${UNKNOWN}/tokens?offset=-1`)).status).toBe(400);
    expect((await p.api('DELETE', `/workspaces/${UNKNOWN}/tokens/abc`)).status).toBe(400);
    expect((await p.api('DELETE', `/workspaces/${UNKNOWN}/tokens/0`)).status).toBe(400);
    expect((await p.api('POST', '/workspaces/nope/tokens')).status).toBe(400);
    expect((await p.api('GET', `/workspaces/${UNKNOWN}/tokens`)).status).toBe(404);
    expect((await p.api('POST', `/workspaces/${UNKNOWN}/tokens`)).status).toBe(404);
    expect((await p.api('DELETE', `/workspaces/${UNKNOWN}/tokens/1`)).status).toBe(404);
    const id = await row('removed tokens');
    const token = (await p.api<{ auth_token: string }>('POST', `/workspaces/${id}/tokens`)).body.auth_token;
    await remove(id);
    expect((await p.api('GET', `/workspaces/${id}/tokens`)).status).toBe(410);
    expect((await p.api('POST', `/workspaces/${id}/tokens`)).status).toBe(410);
    expect([401, 410]).toContain((await heartbeat(id, token)).status);
  });
});

describe('activity filters (A12.3)', () => {
  type Entry = { id: string; action: string; source: string; message: string };
  const list = (id: string, q = '') => p.api<{ entries: Entry[]; code?: string }>('GET', `/workspaces/${id}/activity${q ? `?${q}` : ''}`);

  it('filters by type, source, peer, time window and cursor, all ANDed', async () => {
    const id = await row('activity');
    const peer = await row('activity peer');
    const store = p.clients.store;
    // The entries' ids straddle a power of ten, where their text order differs from their numeric one
    // (the list was once ordered by the id's text: "1000" came before "999").
    const { rows } = await p.clients.pool.query<{ n: string }>(`SELECT nextval('activity_logs_id_seq')::text AS n`);
    const straddle = 10n ** BigInt(String(BigInt(rows[0].n) + 10n).length) - 3n;
    await p.clients.pool.query(`SELECT setval('activity_logs_id_seq', $1::bigint)`, [straddle.toString()]);
    await store.recordActivity({ workspaceId: id, action: 'old.entry', message: 'two hours ago', source: 'agent' });
    await p.clients.pool.query(`UPDATE activity_logs SET created_at = now() - interval '2 hours' WHERE workspace_id = $1 AND action = 'old.entry'`, [id]);
    await store.recordActivity({ workspaceId: id, action: 'platform.thing', message: 'p1' });
    await store.recordActivity({ workspaceId: id, action: 'agent.call', message: 'to peer', source: 'agent', sourceId: id, targetId: peer });
    await store.recordActivity({ workspaceId: id, action: 'agent.call', message: 'from peer', source: 'agent', sourceId: peer, targetId: id });
    await store.recordActivity({ workspaceId: id, action: 'agent.call', message: 'alone', source: 'agent' });
    await store.recordActivity({ workspaceId: id, action: 'canvas.thing', message: 'c1', source: 'canvas' });

    const all = (await list(id)).body.entries;
    expect(all.map((e) => e.message)).toEqual(['c1', 'alone', 'from peer', 'to peer', 'p1', 'two hours ago']);
    expect((await list(id, 'type=agent.call')).body.entries.map((e) => e.message)).toEqual(['alone', 'from peer', 'to peer']);
    expect((await list(id, 'source=agent')).body.entries.map((e) => e.message)).toEqual(['alone', 'from peer', 'to peer', 'two hours ago']);
    expect((await list(id, 'source=canvas')).body.entries.map((e) => e.message)).toEqual(['c1']);
    expect((await list(id, `peer_id=${peer}`)).body.entries.map((e) => e.message)).toEqual(['from peer', 'to peer']);
    expect((await list(id, 'since_secs=3600')).body.entries.map((e) => e.message)).not.toContain('two hours ago');
    expect((await list(id, 'since_secs=99999999')).body.entries).toHaveLength(6);
    const hourAgo = new Date(Date.now() - 3600_000).toISOString();
    expect((await list(id, `before_ts=${encodeURIComponent(hourAgo)}`)).body.entries.map((e) => e.message)).toEqual(['two hours ago']);
    expect((await list(id, 'limit=2')).body.entries.map((e) => e.message)).toEqual(['c1', 'alone']);
    expect((await list(id, `source=agent&type=agent.call&peer_id=${peer}&since_secs=60&limit=1`)).body.entries.map((e) => e.message)).toEqual(['from peer']);

    // since_id: the newer entries, oldest first.
    const p1 = all.find((e) => e.message === 'p1') as Entry;
    expect((await list(id, `since_id=${p1.id}`)).body.entries.map((e) => e.message)).toEqual(['to peer', 'from peer', 'alone', 'c1']);
    expect((await list(id, `since_id=${p1.id}&source=agent&limit=2`)).body.entries.map((e) => e.message)).toEqual(['to peer', 'from peer']);
  });

  it('400 for bad filters, 410 for a since_id of another workspace or none, 404 unknown workspace', async () => {
    const id = await row('activity errors');
    const other = await row('activity other');
    await p.clients.store.recordActivity({ workspaceId: other, action: 'x', message: 'elsewhere' });
    const foreign = (await list(other)).body.entries[0].id;
    for (const q of ['source=platform', 'source=', 'since_secs=0', 'since_secs=-1', 'since_secs=1.5', 'since_secs=x', 'peer_id=nope', 'before_ts=2026-01-01',
      'before_ts=yesterday', 'limit=0', 'limit=501', 'since_id=abc', 'type=a%20b']) {
      const res = await list(id, q);
      expect([q, res.status]).toEqual([q, 400]);
    }
    for (const sinceId of [foreign, '999999999999']) {
      const res = await list(id, `since_id=${sinceId}`);
      expect([res.status, res.body.code]).toEqual([410, 'CURSOR_GONE']);
    }
    expect((await list(UNKNOWN)).status).toBe(404);
    expect((await list('nope')).status).toBe(400);
  });
});

describe('GET /workspaces pages (no silent cap)', () => {
  let parent: string;
  // Other files of the run list `?limit=1000` from the oldest row: these 1,006 rows must not outlive this file.
  afterAll(async () => {
    if (parent) await p.clients.pool.query('DELETE FROM workspaces WHERE parent_id = $1 OR id = $1', [parent]);
  });

  it('walks every row with next_cursor, beyond 1,000, keeping the filters', async () => {
    parent = await row('many children');
    await p.clients.pool.query(
      `INSERT INTO workspaces (name, runtime, compute, parent_id, status) SELECT 'child ' || g, 'codex', 'docker', $1, 'failed' FROM generate_series(1, 1005) g`,
      [parent],
    );
    const removed = await row('removed child', { parentId: parent });
    await remove(removed);
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const q: string = `parent_id=${parent}&limit=1000${cursor ? `&cursor=${cursor}` : ''}`;
      const res = await p.api<{ workspaces: Array<{ id: string; parent_id: string; status: string }>; next_cursor: string | null }>('GET', `/workspaces?${q}`);
      expect(res.status).toBe(200);
      for (const w of res.body.workspaces) {
        expect(w.parent_id).toBe(parent);
        expect(w.status).not.toBe('removed');
      }
      seen.push(...res.body.workspaces.map((w) => w.id));
      cursor = res.body.next_cursor;
      pages++;
    } while (cursor && pages < 5);
    expect(pages).toBe(2);
    expect(seen).toHaveLength(1005);
    expect(new Set(seen).size).toBe(1005);

    const withRemoved = await p.api<{ workspaces: Array<{ id: string }>; next_cursor: string }>('GET', `/workspaces?parent_id=${parent}&include_removed=true&limit=1000`);
    const rest = await p.api<{ workspaces: Array<{ id: string }>; next_cursor: string | null }>(
      'GET',
      `/workspaces?parent_id=${parent}&include_removed=true&limit=1000&cursor=${withRemoved.body.next_cursor}`,
    );
    expect([withRemoved.body.workspaces.length, rest.body.workspaces.length, rest.body.next_cursor]).toEqual([1000, 6, null]);
    expect(rest.body.workspaces.map((w) => w.id)).toContain(removed);
    const first = await p.api<{ workspaces: Array<{ id: string }>; next_cursor: string }>('GET', `/workspaces?parent_id=${parent}&limit=3`);
    const next = await p.api<{ workspaces: Array<{ id: string }> }>('GET', `/workspaces?parent_id=${parent}&limit=3&cursor=${first.body.next_cursor}`);
    expect(next.body.workspaces.map((w) => w.id)).toEqual(seen.slice(3, 6));
  });

  it('400 for a cursor it did not issue', async () => {
    for (const cursor of ['x', 'bm90LWEtY3Vyc29y', '%00', 'a'.repeat(201)]) {
      const res = await p.api<{ code: string }>('GET', `/workspaces?cursor=${cursor}`);
      expect(res.status).toBe(400);
    }
  });
});

describe('GET /org/templates (A13.1)', () => {
  it('lists description and the tree\'s env lists, deduplicated, sorted, required winning', async () => {
    const res = await p.api<{ templates: unknown[] }>('GET', '/org/templates');
    expect(res.status).toBe(200);
    expect(res.body.templates).toEqual([
      {
        dir: 'envs', name: 'Env Org', description: 'an org that needs keys', workspaces: 2,
        required_env: ['A_KEY|B_KEY', 'LEAD_KEY', 'ORG_KEY'],
        recommended_env: ['EXTRA_KEY', 'HELPER_KEY', 'NICE_KEY'],
      },
    ]);
  });
});
