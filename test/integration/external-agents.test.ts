// Issue #16 item 3 (SPEC-ADDENDUM A5.1-5.6): external agents. The connection object at create and at
// re-provision (every endpoint, snippets on EXTERNAL_PLATFORM_URL or the request's host, the token shown
// once and working), create with a url (online, no token until the first register), the delivery mode
// resolved and stored at register, and the register answer. The snippets are run for real (sh + curl,
// python3) against the API.
import type { ExternalConnection } from '../../domain/external-connection';
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { hashToken } from '../../activities/crypto';
import { EVENTS } from '../../domain/vocabulary';
import { ADMIN_TOKEN, startExtraApi, startPlatform, waitFor, type Platform } from './support/platform';

jest.setTimeout(90_000);

const run = promisify(execFile);

type ConnectionView = ExternalConnection;
interface Created {
  id: string;
  external: true;
  status: string;
  workspace: { id: string; status: string; delivery_mode: string; url: string | null; runtime: string; compute: string };
  auth_token?: string;
  connection?: ConnectionView;
  workflow_id?: string;
}
interface Registered {
  status: string;
  delivery_mode: string;
  auth_token?: string;
  platform_inbound_secret?: string;
}

const SNIPPETS = ['curl_register_template', 'python_snippet', 'claude_code_channel_snippet', 'universal_mcp_snippet'] as const;

let p: Platform;
const made: string[] = [];

beforeAll(async () => {
  p = await startPlatform();
});

afterAll(async () => {
  for (const id of made) await p.api('DELETE', `/workspaces/${id}?confirm=true`);
  await p?.close();
});

async function createExternal(body: Record<string, unknown> = {}): Promise<{ status: number; body: Created; cacheControl: string | null }> {
  const res = await fetch(`${p.url}/workspaces`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: `ext-${Date.now()}-${Math.random().toString(36).slice(2, 7)}`, runtime: 'external', ...body }),
  });
  const parsed = (await res.json()) as Created;
  if (res.status === 201) made.push(parsed.id);
  return { status: res.status, body: parsed, cacheControl: res.headers.get('cache-control') };
}

const register = (id: string, token: string | null, extra: Record<string, unknown> = {}) =>
  p.api<Registered & { code?: string; reason?: string; error?: string; details?: unknown }>('POST', '/registry/register', { workspace_id: id, ...extra }, token);

const row = async (id: string) =>
  (await p.clients.pool.query<{ status: string; delivery_mode: string; url: string | null; platform_inbound_secret: string | null }>(
    'SELECT status, delivery_mode, url, platform_inbound_secret FROM workspaces WHERE id = $1',
    [id],
  )).rows[0];

const liveTokens = async (id: string) =>
  (await p.clients.pool.query<{ token_hash: string }>('SELECT token_hash FROM workspace_auth_tokens WHERE workspace_id = $1 AND revoked_at IS NULL', [id])).rows.map((r) => r.token_hash);

const events = async (id: string) =>
  (await p.clients.pool.query<{ event_type: string; payload: Record<string, unknown> }>('SELECT event_type, payload FROM structure_events WHERE workspace_id = $1 ORDER BY id', [id])).rows;


function expectConnection(c: ConnectionView, id: string, platformUrl: string, token: string): void {
  expect(c.workspace_id).toBe(id);
  expect(c.platform_url).toBe(platformUrl);
  expect(c.auth_token).toBe(token);
  expect(c.registry_endpoint).toBe(`${platformUrl}/registry/register`);
  expect(c.heartbeat_endpoint).toBe(`${platformUrl}/registry/heartbeat`);
  for (const key of SNIPPETS) {
    const snippet = c[key];
    expect({ key, hasToken: snippet.includes(token) }).toEqual({ key, hasToken: false });
    expect(snippet).toContain(id);
    expect(snippet).toContain(c.registry_endpoint);
    expect(snippet).toContain(c.heartbeat_endpoint);
    expect(snippet).not.toContain('{{');
    expect(snippet).toMatch(new RegExp(`Origin"?: ?['"]?${platformUrl.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`));
  }
}

describe('create without url (A5.2): the connection object, the token once', () => {
  it('answers 201 with every endpoint and snippet on the URL the operator reached the API at; the token registers and the snippets run', async () => {
    const created = await createExternal();
    expect(created.status).toBe(201);
    expect(created.cacheControl).toBe('no-store');
    const { id, connection, auth_token: token } = created.body;
    expect(created.body).toMatchObject({ id, external: true, status: 'awaiting_agent', workspace: { id, status: 'awaiting_agent', delivery_mode: 'poll', compute: 'none' } });
    expect(token).toMatch(/^mol_/);
    // No EXTERNAL_PLATFORM_URL here: the scheme and host this request came in on (A5.3).
    expectConnection(connection!, id, p.url, token!);

    // Shown once: only its hash is stored, and no read returns it.
    expect(await liveTokens(id)).toEqual([hashToken(token!)]);
    for (const path of [`/workspaces/${id}`, '/workspaces?limit=1000', `/workspaces/${id}/events`]) {
      expect(JSON.stringify((await p.api('GET', path)).body)).not.toContain(token);
    }
    // The awaiting_agent status and its event committed together.
    expect((await events(id)).filter((e) => e.event_type === EVENTS.workspaceAwaitingAgent)).toEqual([
      { event_type: EVENTS.workspaceAwaitingAgent, payload: { name: expect.any(String), external: true } },
    ]);

    // The curl template, run as given with the token in the environment, registers the agent.
    const curl = await run('sh', ['-c', connection!.curl_register_template], { env: { ...process.env, WORKSPACE_TOKEN: token! } });
    const answers = curl.stdout.trim().split(/\n|(?<=\})(?=\{)/).map((l) => JSON.parse(l) as Registered);
    expect(answers[0]).toEqual({ status: 'registered', delivery_mode: 'poll', platform_inbound_secret: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/) });
    expect(answers).toHaveLength(2);
    expect(answers[1]).not.toHaveProperty('code'); // the heartbeat was accepted
    expect((await row(id)).status).toBe('online');
    // A live token exists: register never hands out another one.
    expect(answers[0].auth_token).toBeUndefined();

    // The python snippet registers too (it then heartbeats forever: stopped once it printed its answer).
    const python = spawn('python3', ['-c', connection!.python_snippet], { env: { ...process.env, WORKSPACE_TOKEN: token! } });
    let out = '';
    python.stdout.on('data', (d: Buffer) => (out += d.toString()));
    try {
      await waitFor('python snippet registered', async () => out.includes("'status': 'registered'"));
      expect(out).toContain("'delivery_mode': 'poll'");
    } finally {
      python.kill();
    }
    // Without the token the curl template refuses to run rather than register anonymously.
    await expect(run('sh', ['-c', connection!.curl_register_template], { env: { PATH: process.env.PATH } })).rejects.toThrow(/WORKSPACE_TOKEN/);
  });

  it('EXTERNAL_PLATFORM_URL builds the connection (trailing slash trimmed); re-provision mints a new token with a new connection', async () => {
    const api = await startExtraApi(p, { EXTERNAL_PLATFORM_URL: 'https://agents.example.test:8443/molecule/' });
    try {
      const headers = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };
      const res = await api.app.inject({ method: 'POST', url: '/workspaces', headers, payload: JSON.stringify({ name: `ext-url-${Date.now()}`, external: true }) });
      expect(res.statusCode).toBe(201);
      const body = res.json<Created>();
      made.push(body.id);
      expect(body.workspace.runtime).toBe('external');
      expectConnection(body.connection!, body.id, 'https://agents.example.test:8443/molecule', body.auth_token!);
      expect(JSON.stringify(body.connection)).not.toContain('127.0.0.1');
      // The token works against the real API (the same database).
      expect((await register(body.id, body.auth_token!)).status).toBe(200);

      // POST /workspaces/:id/provision of an external workspace: a new token, the old one revoked.
      await p.clients.pool.query(`UPDATE workspaces SET status = 'offline' WHERE id = $1`, [body.id]);
      const again = await api.app.inject({ method: 'POST', url: `/workspaces/${body.id}/provision`, headers, payload: '{}' });
      expect(again.statusCode).toBe(201);
      expect(again.headers['cache-control']).toBe('no-store');
      const next = again.json<Created>();
      expect(next).toMatchObject({ id: body.id, external: true, status: 'awaiting_agent' });
      expect(next.auth_token).not.toBe(body.auth_token);
      expectConnection(next.connection!, body.id, 'https://agents.example.test:8443/molecule', next.auth_token!);
      expect(await liveTokens(body.id)).toEqual([hashToken(next.auth_token!)]);
      // offline → awaiting_agent: the change and its event committed together (migration 013); the
      // create's own event is the other one.
      expect((await events(body.id)).filter((e) => e.event_type === EVENTS.workspaceAwaitingAgent)).toHaveLength(2);
      expect((await register(body.id, body.auth_token!)).status).toBe(401);
      expect((await register(body.id, next.auth_token!)).status).toBe(200);
    } finally {
      await api.close();
    }
  });

  it('without EXTERNAL_PLATFORM_URL a Host header that would not make a safe URL is not used: PLATFORM_URL is', async () => {
    const api = await startExtraApi(p, { PLATFORM_URL: 'http://platform.internal.test:8080' });
    try {
      const headers = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };
      for (const [host, expected] of [
        ['agents.example.test:9000', 'http://agents.example.test:9000'],
        ["evil'$(id).example", 'http://platform.internal.test:8080'],
      ] as const) {
        const res = await api.app.inject({ method: 'POST', url: '/workspaces', headers: { ...headers, host }, payload: JSON.stringify({ name: `ext-host-${Date.now()}`, runtime: 'external' }) });
        expect(res.statusCode).toBe(201);
        const body = res.json<Created>();
        made.push(body.id);
        expect(body.connection!.platform_url).toBe(expected);
        expect(JSON.stringify(body.connection)).not.toContain('$(id)');
      }
    } finally {
      await api.close();
    }
  });
});

describe('create with url (A5.1) and the first register without a token (A5.5)', () => {
  it('a refused url creates nothing; a public one is online at once with its event, and no token until the agent registers', async () => {
    const name = `ext-online-${Date.now()}`;
    const refused = await p.api<{ code: string; reason: string }>('POST', '/workspaces', { name, external: true, url: 'http://169.254.169.254/latest/' });
    expect(refused.status).toBe(400);
    expect(refused.body).toMatchObject({ code: 'PUSH_URL_REFUSED', reason: 'metadata' });
    expect((await p.clients.pool.query('SELECT 1 FROM workspaces WHERE name = $1', [name])).rowCount).toBe(0);

    const created = await createExternal({ name, url: 'https://8.8.8.8/agent' });
    expect(created.status).toBe(201);
    const { id } = created.body;
    expect(created.body).toMatchObject({ id, external: true, status: 'online', workspace: { status: 'online', url: 'https://8.8.8.8/agent', delivery_mode: 'poll' } });
    expect(created.body.auth_token).toBeUndefined();
    expect(created.body.connection).toBeUndefined();
    expect(await events(id)).toEqual([{ event_type: EVENTS.workspaceOnline, payload: { name, external: true } }]);
    expect(await liveTokens(id)).toEqual([]);
    expect((await row(id)).platform_inbound_secret).toBeNull();

    // A wrong token is still a wrong token, and any Authorization header is a token attempt.
    expect((await register(id, 'mol_wrong')).status).toBe(401);
    const basic = await fetch(`${p.url}/registry/register`, {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Basic dXNlcjpwYXNz' }, body: JSON.stringify({ workspace_id: id }),
    });
    expect(basic.status).toBe(401);
    expect(await liveTokens(id)).toEqual([]);
    // No live token: the agent registers without one and gets its token (and an inbound secret) once.
    const res = await fetch(`${p.url}/registry/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ workspace_id: id }) });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const first = (await res.json()) as Registered;
    expect(first).toEqual({ status: 'registered', delivery_mode: 'poll', auth_token: expect.stringMatching(/^mol_/), platform_inbound_secret: expect.any(String) });
    expect(await liveTokens(id)).toEqual([hashToken(first.auth_token!)]);
    expect((await row(id)).platform_inbound_secret).not.toBeNull();

    // From now on the token is required, and never handed out again.
    expect((await register(id, null)).status).toBe(401);
    const again = await register(id, first.auth_token!);
    expect(again.status).toBe(200);
    expect(again.body).toEqual({ status: 'registered', delivery_mode: 'poll', platform_inbound_secret: first.platform_inbound_secret });
    expect((await p.api('POST', '/registry/heartbeat', { workspace_id: id }, first.auth_token!)).status).toBe(200);
  });

  it('concurrent tokenless registers: exactly one gets a token', async () => {
    const created = await createExternal({ url: 'https://8.8.4.4/agent' });
    const answers = await Promise.all(Array.from({ length: 8 }, () => register(created.body.id, null)));
    const winners = answers.filter((a) => a.status === 200);
    expect(winners).toHaveLength(1);
    expect(answers.filter((a) => a.status === 401)).toHaveLength(7);
    expect(await liveTokens(created.body.id)).toEqual([hashToken(winners[0].body.auth_token!)]);
  });

  it('a platform-run workspace never registers without its token, even with none live', async () => {
    const ws = await p.clients.store.createWorkspace({
      name: `docker-no-token-${Date.now()}`, role: '', tier: 1, runtime: 'claude-code', compute: 'docker', parentId: null, deliveryMode: 'push',
      updateTier: 'production', model: null, budgetLimit: null, maxConcurrentTasks: 1, provisionTimeoutSeconds: null,
    });
    made.push(ws.id);
    expect(await liveTokens(ws.id)).toEqual([]);
    expect((await register(ws.id, null)).status).toBe(401);
    expect(await liveTokens(ws.id)).toEqual([]);
    expect((await row(ws.id)).status).toBe('provisioning');
  });

  it('a database failure during register answers 500 "registration failed", nothing else', async () => {
    const created = await createExternal({ url: 'https://1.1.1.1/agent' });
    // The same database, read-only: the tokenless check reads, the registration's first write fails.
    const readOnly = new URL(p.config.DATABASE_URL);
    readOnly.searchParams.set('options', '-c default_transaction_read_only=on');
    const api = await startExtraApi(p, { DATABASE_URL: readOnly.toString() });
    try {
      const res = await api.app.inject({
        method: 'POST', url: '/registry/register', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ workspace_id: created.body.id }),
      });
      expect(res.statusCode).toBe(500);
      expect(res.json()).toEqual({ error: 'registration failed', code: 'REGISTRATION_FAILED', request_id: expect.any(String) });
    } finally {
      await api.close();
    }
    expect(await liveTokens(created.body.id)).toEqual([]);
  });
});

describe('delivery_mode at register (A5.4)', () => {
  it('body > stored; push needs a url for an external agent; the resolved mode is stored and returned', async () => {
    const created = await createExternal();
    const { id } = created.body;
    const token = created.body.auth_token!;
    expect((await row(id)).delivery_mode).toBe('poll'); // external rows store poll

    // Nothing said: the stored mode.
    expect((await register(id, token)).body).toMatchObject({ status: 'registered', delivery_mode: 'poll' });
    // push without a url, given or stored: 400, nothing changed.
    const noUrl = await register(id, token, { delivery_mode: 'push' });
    expect(noUrl.status).toBe(400);
    expect(noUrl.body.code).toBe('PUSH_URL_REQUIRED');
    expect(await row(id)).toMatchObject({ delivery_mode: 'poll', url: null });
    // An invalid value is a validation error on its field, the value not echoed.
    const bad = await register(id, token, { delivery_mode: 'webhookZZ' });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ code: 'VALIDATION_FAILED', details: [{ field: 'body.delivery_mode' }] });
    expect(JSON.stringify(bad.body)).not.toContain('webhookZZ');
    // push with a public url: stored and returned; a refused url stays refused in push mode too.
    expect((await register(id, token, { delivery_mode: 'push', url: 'http://10.0.0.1/' })).body).toMatchObject({ code: 'PUSH_URL_REFUSED', reason: 'private' });
    expect((await register(id, token, { delivery_mode: 'push', url: 'https://8.8.8.8/a' })).body).toMatchObject({ delivery_mode: 'push' });
    expect(await row(id)).toMatchObject({ delivery_mode: 'push', url: 'https://8.8.8.8/a' });
    // Now stored: a register that says nothing keeps push, and the stored url satisfies it.
    expect((await register(id, token)).body).toMatchObject({ status: 'registered', delivery_mode: 'push' });
    // The body wins over the stored mode.
    expect((await register(id, token, { delivery_mode: 'poll' })).body).toMatchObject({ delivery_mode: 'poll' });
    expect((await row(id)).delivery_mode).toBe('poll');
  });

  it('an explicit delivery_mode at create is the stored one; a platform-run agent needs no url for push', async () => {
    const created = await createExternal({ delivery_mode: 'push' });
    const { id } = created.body;
    expect(created.body.workspace.delivery_mode).toBe('push');
    expect((await register(id, created.body.auth_token!)).body).toMatchObject({ code: 'PUSH_URL_REQUIRED' });
    expect((await register(id, created.body.auth_token!, { url: 'https://8.8.8.8/b' })).body).toMatchObject({ status: 'registered', delivery_mode: 'push' });

    const ws = await p.clients.store.createWorkspace({
      name: `docker-push-${Date.now()}`, role: '', tier: 1, runtime: 'hermes', compute: 'docker', parentId: null, deliveryMode: 'push',
      updateTier: 'production', model: null, budgetLimit: null, maxConcurrentTasks: 1, provisionTimeoutSeconds: null,
    });
    made.push(ws.id);
    const { token } = await p.clients.store.mintCredentials(ws.id);
    expect((await register(ws.id, token)).body).toMatchObject({ status: 'registered', delivery_mode: 'push' });
    expect((await register(ws.id, token, { delivery_mode: 'poll' })).body).toMatchObject({ delivery_mode: 'poll' });
    expect((await row(ws.id)).delivery_mode).toBe('poll');
  });
});
