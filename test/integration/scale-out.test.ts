// Issue #18.5, scale-out shown: two API processes and two worker processes on one task queue, one
// Temporal server and one Postgres. Restart requests spread over both APIs coalesce in the
// workspace's one restart workflow (at most two cycles for a burst); a worker SIGKILLed in the middle
// of an import leaves the other to finish it, with nothing lost or doubled, and is not restarted.
import { createServer } from 'node:net';
import { EVENTS, workflowIds } from '../../domain/vocabulary';
import { startPlatform, waitFor, ADMIN_TOKEN, type Platform } from './support/platform';
import { startApiProcess, startWorkerProcess, type WorkerProcess } from './support/worker-process';

jest.setTimeout(600_000);

let p: Platform;
const processes: WorkerProcess[] = [];
let apis: string[] = [];
let workers: WorkerProcess[] = [];

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (address && typeof address !== 'string' ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

async function call<T = Record<string, unknown>>(api: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const headers: Record<string, string> = { authorization: `Bearer ${ADMIN_TOKEN}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${api}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : null) as T };
}

beforeAll(async () => {
  // The in-process platform gives this file its servers, task queue and clients; it runs no worker.
  // Agents call back to the first API process.
  p = await startPlatform({ worker: false, env: { HEARTBEAT_INTERVAL_SECONDS: '30' } });
  const ports = [await freePort(), await freePort()];
  apis = ports.map((port) => `http://127.0.0.1:${port}`);
  const env = { PLATFORM_URL: apis[0], HEARTBEAT_INTERVAL_SECONDS: '30' };
  for (const port of ports) processes.push(await startApiProcess(p, port, env));
  workers = [await startWorkerProcess(p, env), await startWorkerProcess(p, env)];
  processes.push(...workers);
});
afterAll(async () => {
  await Promise.all(processes.map((w) => w.kill()));
  await p?.close();
});

describe('two APIs, two workers, one task queue', () => {
  it('100 restarts spread over both APIs coalesce to at most two cycles', async () => {
    const created = await call<{ workspace: { id: string } }>(apis[0], 'POST', '/workspaces', { name: 'Scale Restart', runtime: 'claude-code', compute: 'docker' });
    expect(created.status).toBe(202);
    const id = created.body.workspace.id;
    await waitFor('online', async () => (await call<{ status: string }>(apis[1], 'GET', `/workspaces/${id}`)).body.status === 'online', 120_000);

    const answers = await Promise.all(Array.from({ length: 100 }, (_, i) => call(apis[i % 2], 'POST', `/workspaces/${id}/restart`, {})));
    expect(answers.map((a) => a.status)).toEqual(answers.map(() => 202));

    const result = await waitFor('restart workflow finished', async () => {
      const description = await p.temporal.workflow.getHandle(`restart-${id}`).describe();
      return description.status.name === 'COMPLETED' ? p.temporal.workflow.getHandle(`restart-${id}`).result() : null;
    }, 240_000) as { cycles: number; failedCycles: number };
    expect(result.failedCycles).toBe(0);
    expect(result.cycles).toBeGreaterThanOrEqual(1);
    expect(result.cycles).toBeLessThanOrEqual(2);
    const { rows } = await p.clients.pool.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM structure_events WHERE workspace_id = $1 AND event_type = $2',
      [id, EVENTS.workspaceRestarted],
    );
    expect(rows[0].n).toBe(result.cycles);
    await waitFor('online again', async () => (await call<{ status: string }>(apis[0], 'GET', `/workspaces/${id}`)).body.status === 'online', 120_000);
    expect((await call(apis[1], 'DELETE', `/workspaces/${id}?confirm=true`)).status).toBe(200);
  });

  it('a worker SIGKILLed mid-import: the other worker finishes it, every workspace once', async () => {
    // 1 root + 3 leads + 3 × 12 members = 40: 34 external, 6 Docker.
    const teams = [0, 1, 2].map((t) => ({
      name: `Scale Team ${t}`,
      runtime: 'external',
      children: Array.from({ length: 12 }, (_, m) => ({ name: `Scale Member ${t}-${m}`, runtime: m < 2 ? 'codex' : 'external', ...(m < 2 ? { compute: 'docker' } : {}) })),
    }));
    const template = { name: 'Scale Org', workspaces: [{ name: 'Scale Root', runtime: 'external', children: teams }] };
    const started = await call<{ import_id: string }>(apis[1], 'POST', '/org/import', { template });
    expect(started.status).toBe(202);
    const importId = started.body.import_id;
    type View = { status: string; failed_count: number; items: Array<{ workspace_id: string | null; outcome: string }> };
    const view = async () => (await call<View>(apis[0], 'GET', `/org/imports/${importId}`)).body;

    // Mid-import (some workspaces made, the import still running), the worker that ran the import's last
    // workflow task (its identity is <pid>@<host>) is killed, so its cached run and tasks must move.
    await waitFor('import under way', async () => {
      const v = await view();
      return v.status === 'running' && v.items.some((i) => i.workspace_id);
    }, 60_000, 50);
    const history = await p.temporal.workflow.getHandle(workflowIds.orgImport(importId)).fetchHistory();
    const identities = (history.events ?? []).map((e) => e.workflowTaskCompletedEventAttributes?.identity).filter((i): i is string => Boolean(i));
    const holder = workers.find((w) => identities[identities.length - 1]?.startsWith(`${w.child.pid}@`));
    if (!holder) throw new Error(`no worker process ran the import's last task (identities: ${identities.join(', ')})`);
    await holder.kill();
    const survivor = workers.find((w) => w !== holder) as WorkerProcess;

    const done = await waitFor('import finished by the surviving worker', async () => {
      const v = await view();
      return v.status === 'running' ? null : v;
    }, 300_000);
    expect(done.status).toBe('completed');
    expect(done.failed_count).toBe(0);
    expect(done.items).toHaveLength(40);
    // External workspaces are created awaiting their agents; the Docker ones are provisioned online.
    const outcomes = done.items.reduce<Record<string, number>>((acc, i) => ({ ...acc, [i.outcome]: (acc[i.outcome] ?? 0) + 1 }), {});
    expect(outcomes).toEqual({ created: 34, online: 6 });
    const ids = done.items.map((i) => i.workspace_id as string);
    expect(new Set(ids).size).toBe(40);
    const { rows } = await p.clients.pool.query<{ n: number; started: number; completed: number }>(
      `SELECT (SELECT count(*)::int FROM workspaces WHERE org_import_id = $1) AS n,
              (SELECT count(*)::int FROM structure_events WHERE org_import_id = $1 AND event_type = $2) AS started,
              (SELECT count(*)::int FROM structure_events WHERE org_import_id = $1 AND event_type = $3) AS completed`,
      [importId, EVENTS.orgImportStarted, EVENTS.orgImportCompleted],
    );
    expect(rows[0]).toEqual({ n: 40, started: 1, completed: 1 });
    expect(holder.child.signalCode).toBe('SIGKILL');
    // The survivor finished the import: it completed the run's last workflow task.
    const after = await p.temporal.workflow.getHandle(workflowIds.orgImport(importId)).fetchHistory();
    const last = (after.events ?? []).map((e) => e.workflowTaskCompletedEventAttributes?.identity).filter(Boolean).pop();
    expect(last?.startsWith(`${survivor.child.pid}@`)).toBe(true);
  });
});
