// API surface: auth, validation, opaque errors, readiness, OpenAPI, registry auth, external runtime.
import { hashToken } from '../../activities/crypto';
import { ADMIN_TOKEN, startPlatform, waitFor, type Platform } from './support/platform';
import { buildApp } from '../../api/app';
import { loadConfig } from '../../config';
import { buildClients } from '../../worker/clients';
import { Client, Connection } from '@temporalio/client';
import pino from 'pino';
import { testEnv } from './support/platform';
import { replayAndMaybeRecord } from './support/histories';

let p: Platform;
beforeAll(async () => {
  p = await startPlatform();
});
afterAll(async () => {
  await p?.close();
});

const MARKER = 'INJECTED<script>marker';

describe('auth', () => {
  it('admin routes refuse a missing or wrong token with 401 and a stable body', async () => {
    for (const token of [null, 'wrong', `${ADMIN_TOKEN}x`, ADMIN_TOKEN.slice(0, -1)]) {
      const res = await p.api('GET', '/workspaces', undefined, token);
      expect(res.status).toBe(401);
      expect(res.body).toEqual({ error: 'missing or invalid bearer token', code: 'UNAUTHORIZED' });
    }
    expect((await p.api('GET', '/workspaces')).status).toBe(200);
  });

  it('an API without ADMIN_TOKEN configured locks admin routes', async () => {
    const config = loadConfig({ ...testEnv(p.servers, p.taskQueue), ADMIN_TOKEN: '' });
    const clients = buildClients(config, pino({ level: 'silent' }));
    const connection = await Connection.connect({ address: p.servers.temporalAddress });
    const app = await buildApp({ config, store: clients.store, box: clients.box, temporal: new Client({ connection }), compute: {}, logger: false });
    const res = await app.inject({ method: 'GET', url: '/workspaces', headers: { authorization: 'Bearer ' } });
    expect(res.statusCode).toBe(401);
    await app.close();
    await connection.close();
    await clients.close();
  });
});

describe('validation', () => {
  it('answers 400 with field-level messages and never echoes the input', async () => {
    const res = await p.api<{ code: string; details: Array<{ field: string; message: string }> }>('POST', '/workspaces', {
      name: '',
      tier: MARKER,
      parent_id: MARKER,
      required_env: [MARKER],
      [MARKER]: MARKER,
    });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('VALIDATION_FAILED');
    const fields = res.body.details.map((d) => d.field).sort();
    expect(fields).toEqual(expect.arrayContaining(['body.name', 'body.tier', 'body.parent_id', 'body.required_env.0']));
    expect(JSON.stringify(res.body)).not.toContain('INJECTED');
  });

  it('rejects malformed JSON, wrong content type, oversized bodies and bad ids with 4xx', async () => {
    expect((await p.api('POST', '/workspaces', '{"name": ')).status).toBe(400);
    const big = await p.api('POST', '/workspaces', JSON.stringify({ name: 'x', role: 'a'.repeat(2 * 1024 * 1024) }));
    expect(big.status).toBe(413);
    expect(big.body).toEqual({ error: 'request body too large (limit 1 MiB)', code: 'BODY_TOO_LARGE' });
    const res = await fetch(`${p.url}/workspaces`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'text/plain' }, body: MARKER });
    expect(res.status).toBe(415);
    expect(await res.text()).not.toContain('INJECTED');
    const badId = await p.api('GET', `/workspaces/${encodeURIComponent(MARKER)}`);
    expect(badId.status).toBe(400);
    expect(JSON.stringify(badId.body)).not.toContain('INJECTED');
  });

  it('unknown ids answer 404 without echoing them; unknown routes too', async () => {
    const id = '00000000-0000-4000-8000-00000000abcd';
    const res = await p.api('GET', `/workspaces/${id}`);
    expect(res.status).toBe(404);
    expect(JSON.stringify(res.body)).not.toContain('abcd');
    const route = await p.api('GET', `/nope/${MARKER}`);
    expect(route.status).toBe(404);
    expect(JSON.stringify(route.body)).not.toContain('INJECTED');
  });

  it('a non-configured compute provider is a 400, not a 500', async () => {
    const config = loadConfig({ ...testEnv(p.servers, p.taskQueue), COMPUTE_PROVIDERS: 'docker' });
    const clients = buildClients(config, pino({ level: 'silent' }));
    const connection = await Connection.connect({ address: p.servers.temporalAddress });
    const app = await buildApp({ config, store: clients.store, box: clients.box, temporal: new Client({ connection }), compute: clients.compute, logger: false });
    const res = await app.inject({ method: 'POST', url: '/workspaces', headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, payload: { name: 'x', compute: 'ec2' } });
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe('COMPUTE_NOT_CONFIGURED');
    await app.close();
    await connection.close();
    await clients.close();
  });
});

describe('errors are opaque', () => {
  it('an unexpected failure is a 500 with a request id and no internals', async () => {
    const config = loadConfig(testEnv(p.servers, p.taskQueue));
    const clients = buildClients(config, pino({ level: 'silent' }));
    await clients.pool.end(); // every query now throws "Cannot use a pool after calling end on the pool"
    const connection = await Connection.connect({ address: p.servers.temporalAddress });
    const app = await buildApp({ config, store: clients.store, box: clients.box, temporal: new Client({ connection }), compute: {}, logger: false });
    const res = await app.inject({ method: 'GET', url: '/workspaces', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(res.statusCode).toBe(500);
    const body = res.json();
    expect(body).toEqual({ error: 'internal error', code: 'INTERNAL', request_id: expect.any(String) });
    expect(res.body).not.toMatch(/pool|stack|at /i);
    await app.close();
    await connection.close();
  });
});

describe('health', () => {
  it('/healthz and /readyz answer 200 with every dependency up', async () => {
    expect((await p.api('GET', '/healthz', undefined, null)).body).toEqual({ status: 'ok' });
    const ready = await p.api('GET', '/readyz', undefined, null);
    expect(ready.status).toBe(200);
    expect(ready.body).toEqual({ status: 'ready', checks: { postgres: 'ok', temporal: 'ok', docker: 'ok', ec2: 'ok' } });
  });

  it('/readyz answers 503 naming the dependency that failed', async () => {
    const config = loadConfig({
      ...testEnv(p.servers, p.taskQueue),
      DOCKER_SOCKET: '/nonexistent/podman.sock',
      EC2_ENDPOINT: 'http://127.0.0.1:9',
    });
    const clients = buildClients(config, pino({ level: 'silent' }));
    const connection = await Connection.connect({ address: p.servers.temporalAddress });
    const app = await buildApp({ config, store: clients.store, box: clients.box, temporal: new Client({ connection }), compute: clients.compute, logger: false });
    const res = await app.inject({ method: 'GET', url: '/readyz' });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toEqual({ status: 'unavailable', checks: { postgres: 'ok', temporal: 'ok', docker: 'failed', ec2: 'failed' } });
    await app.close();
    await connection.close();
    await clients.close();
  });

  it('serves an OpenAPI document generated from the zod schemas', async () => {
    const res = await p.api<{ openapi: string; paths: Record<string, unknown> }>('GET', '/openapi.json', undefined, null);
    expect(res.status).toBe(200);
    expect(res.body.openapi).toMatch(/^3\./);
    expect(Object.keys(res.body.paths)).toEqual(expect.arrayContaining(['/workspaces', '/workspaces/{id}', '/registry/register']));
  });
});

describe('external runtime and registry', () => {
  it('concurrent mints leave exactly one live token, the last inbound secret, and a missing workspace is an error', async () => {
    const res = await p.api<{ workspace: { id: string } }>('POST', '/workspaces', { name: 'Mint Race', runtime: 'external' });
    const id = res.body.workspace.id;
    const minted = await Promise.all(Array.from({ length: 12 }, () => p.clients.store.mintCredentials(id)));
    const { rows } = await p.clients.pool.query<{ token_hash: string }>('SELECT token_hash FROM workspace_auth_tokens WHERE workspace_id = $1 AND revoked_at IS NULL', [id]);
    expect(rows).toHaveLength(1);
    const winner = minted.find((m) => hashToken(m.token) === rows[0].token_hash);
    expect(winner).toBeDefined();
    // The live token and the stored inbound secret come from the same (last committed) mint.
    const beat = await p.api<{ platform_inbound_secret: string }>('POST', '/registry/register', { workspace_id: id }, winner!.token);
    expect(beat.body.platform_inbound_secret).toBe(winner!.inboundSecret);
    await expect(p.clients.store.mintCredentials('00000000-0000-4000-8000-00000000abcd')).rejects.toThrow('workspace not found');
  });

  it('returns the token once, stores only its hash, and registers with it', async () => {
    const res = await p.api<{
      workspace: { id: string; status: string; delivery_mode: string; compute: string };
      auth_token: string;
      connection: { curl_register_template: string; workspace_id: string; auth_token: string };
    }>('POST', '/workspaces', { name: 'Outside Agent', runtime: 'external' });
    expect(res.status).toBe(201);
    const { workspace, auth_token: token } = res.body;
    expect(workspace.status).toBe('awaiting_agent');
    expect(workspace.delivery_mode).toBe('poll');
    expect(workspace.compute).toBe('none');
    expect(token).toMatch(/^mol_/);
    expect(res.body.connection.curl_register_template).toContain(workspace.id);
    expect(res.body.connection.curl_register_template).not.toContain(token);
    expect(res.body.connection.auth_token).toBe(token);

    const tokens = await p.clients.pool.query('SELECT token_hash FROM workspace_auth_tokens WHERE workspace_id = $1 AND revoked_at IS NULL', [workspace.id]);
    expect(tokens.rows).toEqual([{ token_hash: hashToken(token) }]);
    const read = await p.api('GET', `/workspaces/${workspace.id}`);
    expect(JSON.stringify(read.body)).not.toContain(token);

    // Wrong token, a token for another workspace, and no token are all 401.
    expect((await p.api('POST', '/registry/register', { workspace_id: workspace.id }, 'mol_wrong')).status).toBe(401);
    expect((await p.api('POST', '/registry/register', { workspace_id: workspace.id }, null)).status).toBe(401);
    expect((await p.api('POST', '/registry/register', { workspace_id: '00000000-0000-4000-8000-000000000001' }, token)).status).toBe(401);

    const reg = await p.api<{ status: string; platform_inbound_secret: string }>('POST', '/registry/register', { workspace_id: workspace.id }, token);
    expect(reg.status).toBe(200);
    expect(reg.body.status).toBe('registered');
    expect(reg.body.platform_inbound_secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const beat = await p.api<{ platform_inbound_secret: string }>('POST', '/registry/heartbeat', { workspace_id: workspace.id }, token);
    expect(beat.status).toBe(200);
    expect(beat.body.platform_inbound_secret).toBe(reg.body.platform_inbound_secret);
    expect((await p.api<{ status: string }>('GET', `/workspaces/${workspace.id}`)).body.status).toBe('online');

    // The provision workflow's result was read back through the Temporal client: sealed, not clear.
    const result = await p.temporal.workflow.getHandle(`provision-${workspace.id}`).result();
    expect(result.status).toBe('awaiting_agent');
    expect(JSON.stringify(result)).not.toContain(token);
    await replayAndMaybeRecord(p.temporal, `provision-${workspace.id}`, undefined, 'provision-external');

    // Re-provisioning mints a new token; the old one is revoked (401).
    await p.clients.pool.query(`UPDATE workspaces SET status = 'offline' WHERE id = $1`, [workspace.id]);
    const again = await p.api<{ auth_token: string }>('POST', `/workspaces/${workspace.id}/provision`, {});
    expect(again.status).toBe(201);
    expect(again.body.auth_token).not.toBe(token);
    expect((await p.api('POST', '/registry/heartbeat', { workspace_id: workspace.id }, token)).status).toBe(401);
    expect((await p.api('POST', '/registry/heartbeat', { workspace_id: workspace.id }, again.body.auth_token)).status).toBe(200);
  });

  it('a removed workspace is never resurrected by register or heartbeat', async () => {
    const res = await p.api<{ workspace: { id: string }; auth_token: string }>('POST', '/workspaces', { name: 'Doomed', runtime: 'external' });
    const { id } = res.body.workspace;
    await p.clients.pool.query(`UPDATE workspaces SET status = 'removed', removed_at = now() WHERE id = $1`, [id]);
    expect((await p.api('POST', '/registry/register', { workspace_id: id }, res.body.auth_token)).status).toBe(410);
    expect((await p.api('POST', '/registry/heartbeat', { workspace_id: id }, res.body.auth_token)).status).toBe(410);
    const row = await p.clients.pool.query('SELECT status FROM workspaces WHERE id = $1', [id]);
    expect(row.rows[0].status).toBe('removed');
    const get = await p.api<{ error: string; id: string; removed_at: string; hint: string }>('GET', `/workspaces/${id}`);
    expect(get.status).toBe(410);
    expect(get.body).toEqual({ error: 'workspace removed', code: 'WORKSPACE_REMOVED', id, removed_at: expect.any(String), hint: expect.any(String) });
    expect((await p.api('GET', `/workspaces/${id}?include_removed=true`)).status).toBe(200);
    await waitFor('listed only with include_removed', async () => {
      const listed = await p.api<{ workspaces: Array<{ id: string }> }>('GET', '/workspaces?limit=1000');
      return !listed.body.workspaces.some((w) => w.id === id);
    });
  });
});
