// POST /workspaces and POST /org/import: no ghost rows (row and secrets in one transaction; a workflow
// that cannot start leaves a failed row and a 503), and Idempotency-Key (replay, other body, in flight,
// bad keys, sealed answers). Real API, Temporal, Postgres and Podman.
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import { createMissingKeyBox } from '../../activities/crypto';
import { createWorkspaceStore } from '../../activities/workspace-store';
import { buildApp } from '../../api/app';
import { ADMIN_TOKEN, startPlatform, waitFor, type Platform } from './support/platform';

let p: Platform;
const apps: FastifyInstance[] = [];
const connections: Connection[] = [];

beforeAll(async () => {
  p = await startPlatform();
});
afterAll(async () => {
  for (const app of apps) await app.close();
  for (const c of connections) await c.close();
  await p?.close();
});

interface Answer<T> {
  status: number;
  text: string;
  body: T;
  replayed: string | null;
}

async function post<T = Record<string, unknown>>(baseUrl: string, path: string, body: unknown, key?: string): Promise<Answer<T>> {
  const headers: Record<string, string> = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };
  if (key !== undefined) headers['idempotency-key'] = key;
  const res = await fetch(`${baseUrl}${path}`, { method: 'POST', headers, body: JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, text, body: JSON.parse(text) as T, replayed: res.headers.get('idempotent-replayed') };
}

/** Another API on the same servers, with some of its parts swapped (no worker on its queue, another namespace, a store without the key). */
async function otherApi(opts: { taskQueue?: string; namespace?: string; missingSecretsKey?: boolean }): Promise<string> {
  const connection = await Connection.connect({ address: p.servers.temporalAddress });
  connections.push(connection);
  const temporal = new Client({ connection, namespace: opts.namespace ?? p.servers.temporalNamespace });
  const config = { ...p.config, TASK_QUEUE: opts.taskQueue ?? p.config.TASK_QUEUE };
  const box = opts.missingSecretsKey ? createMissingKeyBox() : p.clients.box;
  const store = opts.missingSecretsKey ? createWorkspaceStore(p.clients.pool, box) : p.clients.store;
  const app = await buildApp({ config, store, box, temporal, compute: p.clients.compute, logger: false });
  apps.push(app);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address() as { port: number };
  return `http://127.0.0.1:${address.port}`;
}

async function rowsNamed(name: string): Promise<Array<{ id: string; status: string; last_sample_error: string | null }>> {
  const { rows } = await p.clients.pool.query('SELECT id, status, last_sample_error FROM workspaces WHERE name = $1', [name]);
  return rows;
}

async function importCount(): Promise<number> {
  const { rows } = await p.clients.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM org_imports');
  return rows[0].n;
}

describe('POST /workspaces: no ghost rows', () => {
  it('a workflow that cannot be started answers 503 with the workspace id; the row is failed, its secrets kept, and provision retries it', async () => {
    const url = await otherApi({ namespace: `no-such-namespace-${randomUUID().slice(0, 8)}` });
    const name = `Unstartable ${randomUUID().slice(0, 8)}`;
    const res = await post<{ error: string; code: string; workspace_id: string }>(url, '/workspaces', { name, runtime: 'external', secrets: { SOME_KEY: 'value-1' } });
    expect(res.status).toBe(503);
    expect(res.body).toMatchObject({ code: 'PROVISION_NOT_STARTED', error: expect.any(String), workspace_id: expect.any(String) });
    const rows = await rowsNamed(name);
    expect(rows).toEqual([{ id: res.body.workspace_id, status: 'failed', last_sample_error: expect.stringContaining('POST /workspaces/:id/provision') }]);
    const secrets = await p.clients.pool.query('SELECT name FROM workspace_secrets WHERE workspace_id = $1', [res.body.workspace_id]);
    expect(secrets.rows).toEqual([{ name: 'SOME_KEY' }]);

    const retried = await post<{ auth_token: string; workspace: { id: string } }>(p.url, `/workspaces/${res.body.workspace_id}/provision`, {});
    expect(retried.status).toBe(201);
    expect(retried.body.auth_token).toEqual(expect.any(String));
  });

  it('the row and its secrets commit together: a secret that cannot be stored leaves no row', async () => {
    const url = await otherApi({ missingSecretsKey: true });
    const name = `No Ghost ${randomUUID().slice(0, 8)}`;
    const res = await post(url, '/workspaces', { name, runtime: 'external', secrets: { SOME_KEY: 'value-2' } });
    expect(res.status).toBeGreaterThanOrEqual(500);
    expect(await rowsNamed(name)).toEqual([]);
  });
});

describe('Idempotency-Key on POST /workspaces', () => {
  it('a retry with the same key and body gets the first answer (token included) and creates nothing; the stored answer is sealed', async () => {
    const key = `create-${randomUUID()}`;
    const body = { name: `Idem External ${randomUUID().slice(0, 8)}`, runtime: 'external' };
    const first = await post<{ auth_token: string; workspace: { id: string } }>(p.url, '/workspaces', body, key);
    expect(first.status).toBe(201);
    expect(first.replayed).toBeNull();
    const again = await post(p.url, '/workspaces', body, key);
    expect(again.status).toBe(201);
    expect(again.text).toBe(first.text);
    expect(again.replayed).toBe('true');
    expect(await rowsNamed(body.name)).toHaveLength(1);
    const { rows: tokens } = await p.clients.pool.query('SELECT count(*)::int AS n FROM workspace_auth_tokens WHERE workspace_id = $1', [first.body.workspace.id]);
    expect(tokens[0].n).toBe(1);

    const { rows } = await p.clients.pool.query<{ answer_enc: string; body_hash: string; state: string }>('SELECT answer_enc, body_hash, state FROM idempotency_keys WHERE key = $1', [key]);
    expect(rows).toHaveLength(1);
    expect(rows[0].state).toBe('completed');
    expect(rows[0].answer_enc).not.toContain(first.body.auth_token);
    expect(rows[0].answer_enc).not.toContain(body.name);
  });

  it('a Docker workspace: the retry answers 202 with the same workspace and starts no second provision', async () => {
    const key = `docker-${randomUUID()}`;
    const body = { name: `Idem Docker ${randomUUID().slice(0, 8)}`, compute: 'docker' };
    const first = await post<{ workspace: { id: string }; run_id: string }>(p.url, '/workspaces', body, key);
    expect(first.status).toBe(202);
    const again = await post<{ workspace: { id: string }; run_id: string }>(p.url, '/workspaces', body, key);
    expect(again.status).toBe(202);
    expect(again.text).toBe(first.text);
    expect(await rowsNamed(body.name)).toHaveLength(1);
    const description = await p.temporal.workflow.getHandle(`provision-${first.body.workspace.id}`).describe();
    expect(description.runId).toBe(first.body.run_id);
    await waitFor('online', async () => ((await rowsNamed(body.name))[0]?.status === 'online' ? true : null));
    expect((await p.api('DELETE', `/workspaces/${first.body.workspace.id}?confirm=true`)).status).toBe(200);
  });

  it('the same key with another body is a 422 and creates nothing', async () => {
    const key = `other-${randomUUID()}`;
    const name = `Idem First ${randomUUID().slice(0, 8)}`;
    expect((await post(p.url, '/workspaces', { name, runtime: 'external' }, key)).status).toBe(201);
    const other = await post<{ code: string }>(p.url, '/workspaces', { name: `${name} changed`, runtime: 'external' }, key);
    expect(other.status).toBe(422);
    expect(other.body).toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED', error: expect.any(String) });
    expect(await rowsNamed(`${name} changed`)).toEqual([]);
  });

  it('a request still in flight with the key is a 409; once it has answered, retries get that answer', async () => {
    // No worker polls this queue: an external workspace's POST waits the full 15 s for its token.
    const queue = `idle-${randomUUID().slice(0, 8)}`;
    const url = await otherApi({ taskQueue: queue });
    const key = `slow-${randomUUID()}`;
    const body = { name: `Idem Slow ${randomUUID().slice(0, 8)}`, runtime: 'external' };
    const slow = post<{ code: string; auth_token: string; connection: { auth_token: string } }>(url, '/workspaces', body, key);
    await waitFor('first request holds the key', async () => ((await rowsNamed(body.name)).length === 1 ? true : null));
    const during = await post<{ code: string }>(url, '/workspaces', body, key);
    expect(during.status).toBe(409);
    expect(during.body).toMatchObject({ code: 'IDEMPOTENCY_KEY_IN_FLIGHT' });
    const first = await slow;
    // A5.2: a token that could not be minted (here: in time) is "", and the workspace is still created (201).
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ auth_token: '', connection: { auth_token: '' } });
    const after = await post(url, '/workspaces', body, key);
    expect(after.status).toBe(first.status);
    expect(after.text).toBe(first.text);
    expect(await rowsNamed(body.name)).toHaveLength(1);
    const [ws] = await rowsNamed(body.name);
    await p.temporal.workflow.getHandle(`provision-${ws.id}`).terminate('test cleanup: no worker on this queue');
  });

  it('refuses a bad key with a 400 that does not echo it, and creates nothing', async () => {
    const name = `Idem Bad ${randomUUID().slice(0, 8)}`;
    for (const key of ['', 'a'.repeat(129), 'has space', 'semi;colon', 'quote"d', 'ünï', 'a,b']) {
      const res = await post<{ code: string }>(p.url, '/workspaces', { name, runtime: 'external' }, key);
      expect(res.status).toBe(400);
      if (key) expect(res.text).not.toContain(key);
      expect(res.body).toMatchObject({ code: 'INVALID_IDEMPOTENCY_KEY' });
    }
    expect(await rowsNamed(name)).toEqual([]);
  });
});

describe('Idempotency-Key on POST /org/import', () => {
  const template = (name: string) => ({ template: { name, workspaces: [{ name: `${name} Lead`, runtime: 'external' }] } });

  it('a retry gets the first import id and starts no second import; another body is a 422', async () => {
    const key = `import-${randomUUID()}`;
    const body = template(`Idem Org ${randomUUID().slice(0, 8)}`);
    const before = await importCount();
    const first = await post<{ import_id: string }>(p.url, '/org/import', body, key);
    expect(first.status).toBe(202);
    const again = await post<{ import_id: string }>(p.url, '/org/import', body, key);
    expect(again.status).toBe(202);
    expect(again.text).toBe(first.text);
    expect(again.replayed).toBe('true');
    expect(await importCount()).toBe(before + 1);

    const other = await post<{ code: string }>(p.url, '/org/import', template('Another Org'), key);
    expect(other.status).toBe(422);
    expect(other.body).toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED' });
    expect(await importCount()).toBe(before + 1);
    await waitFor('import done', async () => ((await p.api<{ status: string }>('GET', `/org/imports/${first.body.import_id}`)).body.status !== 'running' ? true : null));
  });

  it('concurrent requests with one key start one import: each answer is that import or a 409 in flight', async () => {
    const key = `import-race-${randomUUID()}`;
    const body = template(`Idem Race ${randomUUID().slice(0, 8)}`);
    const before = await importCount();
    const answers = await Promise.all(Array.from({ length: 6 }, () => post<{ import_id?: string; code?: string }>(p.url, '/org/import', body, key)));
    expect(answers.every((a) => a.status === 202 || (a.status === 409 && a.body.code === 'IDEMPOTENCY_KEY_IN_FLIGHT'))).toBe(true);
    const ids = new Set(answers.filter((a) => a.status === 202).map((a) => a.body.import_id));
    expect(ids.size).toBe(1);
    expect(await importCount()).toBe(before + 1);
    const [importId] = [...ids];
    await waitFor('import done', async () => ((await p.api<{ status: string }>('GET', `/org/imports/${importId}`)).body.status !== 'running' ? true : null));
  });

  it('refuses a bad key with a 400 and starts nothing', async () => {
    const before = await importCount();
    const res = await post<{ code: string }>(p.url, '/org/import', template('Bad Key Org'), 'no spaces allowed');
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ code: 'INVALID_IDEMPOTENCY_KEY' });
    expect(await importCount()).toBe(before);
  });
});
