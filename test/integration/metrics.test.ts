// Metrics (issue 18 part 3): the API's GET /metrics (admin or metrics token) and the worker process's
// /metrics (WORKER_METRICS_PORT: its own counters and the Temporal SDK's runtime metrics) are scraped
// before and after real requests, a provision and a liveness pass, and their counters must move.
import { freePort } from '../harness/processes';
import { ADMIN_TOKEN, startPlatform, waitFor, type Platform } from './support/platform';
import { startWorkerProcess, type WorkerProcess } from './support/worker-process';

const METRICS_TOKEN = 'test-metrics-token-0123456789';

let p: Platform;
let worker: WorkerProcess;
let workerMetricsUrl: string;

beforeAll(async () => {
  p = await startPlatform({ worker: false, env: { METRICS_TOKEN } });
  const port = await freePort();
  workerMetricsUrl = `http://127.0.0.1:${port}/metrics`;
  // A worker process of its own: the SDK runtime (and its Prometheus exporter) is process-wide.
  worker = await startWorkerProcess(p, { WORKER_METRICS_PORT: String(port) });
});
afterAll(async () => {
  await worker?.kill();
  await p?.close();
});

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the Prometheus text format (sample lines only). */
function parse(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    samples.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return samples;
}

/** The sum of the samples named `name` whose labels include `labels`. */
function total(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  return samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);
}

async function scrapeApi(token: string | null = ADMIN_TOKEN): Promise<{ status: number; contentType: string; samples: Sample[]; text: string }> {
  const res = await fetch(`${p.url}/metrics`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  const text = await res.text();
  return { status: res.status, contentType: res.headers.get('content-type') ?? '', text, samples: res.status === 200 ? parse(text) : [] };
}

async function scrapeWorker(): Promise<Sample[]> {
  const res = await fetch(workerMetricsUrl);
  expect(res.status).toBe(200);
  return parse(await res.text());
}

describe('API /metrics', () => {
  it('answers Prometheus text to the admin and the metrics token only', async () => {
    expect((await scrapeApi(null)).status).toBe(401);
    expect((await scrapeApi('wrong-token')).status).toBe(401);
    const admin = await scrapeApi(ADMIN_TOKEN);
    expect(admin.status).toBe(200);
    expect(admin.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(admin.text).toContain('# TYPE molecule_api_requests_total counter');
    expect((await scrapeApi(METRICS_TOKEN)).status).toBe(200);
    // The metrics token reads metrics and nothing else.
    expect((await p.api('GET', '/workspaces', undefined, METRICS_TOKEN)).status).toBe(401);
    // Not part of the API's contract document.
    const doc = await p.api<{ paths: Record<string, unknown> }>('GET', '/openapi.json');
    expect(Object.keys(doc.body.paths)).not.toContain('/metrics');
  });

  it('counts requests by route pattern and status, their latency, errors by code, workflow starts and signals', async () => {
    const before = (await scrapeApi()).samples;
    for (let i = 0; i < 3; i++) expect((await p.api('GET', '/workspaces')).status).toBe(200);
    expect((await p.api('GET', '/workspaces/not-a-uuid')).status).toBe(400);
    expect((await p.api('GET', '/no/such/route')).status).toBe(404);
    const created = await p.api<{ workspace: { id: string }; auth_token: string }>('POST', '/workspaces', { name: 'Metrics External', runtime: 'external' });
    expect(created.status).toBe(201);
    const id = created.body.workspace.id;
    // Registration signals the provision (agentRegistered).
    expect((await p.api('POST', '/registry/register', { workspace_id: id }, created.body.auth_token)).status).toBe(200);
    const after = (await scrapeApi()).samples;
    const moved = (name: string, labels: Record<string, string>) => total(after, name, labels) - total(before, name, labels);

    expect(moved('molecule_api_requests_total', { method: 'GET', route: '/workspaces', status: '200' })).toBe(3);
    expect(moved('molecule_api_requests_total', { method: 'GET', route: '/workspaces/:id', status: '400' })).toBe(1);
    expect(moved('molecule_api_requests_total', { method: 'GET', route: 'unmatched', status: '404' })).toBe(1);
    expect(moved('molecule_api_requests_total', { method: 'POST', route: '/workspaces', status: '201' })).toBe(1);
    expect(moved('molecule_api_request_duration_seconds_count', { method: 'GET', route: '/workspaces', status: '200' })).toBe(3);
    expect(moved('molecule_api_request_duration_seconds_bucket', { method: 'GET', route: '/workspaces', status: '200', le: '+Inf' })).toBe(3);
    expect(moved('molecule_api_errors_total', { code: 'ROUTE_NOT_FOUND', status: '404' })).toBe(1);
    expect(moved('molecule_api_errors_total', { status: '400' })).toBe(1);
    expect(moved('molecule_api_workflow_starts_total', { workflow_type: 'provisionWorkspace', via: 'start', result: 'ok' })).toBe(1);
    expect(moved('molecule_api_workflow_signals_total', { signal: 'agentRegistered', via: 'signal' })).toBe(1);
    // Labels are route patterns, never raw URLs: no workspace id appears in any label.
    expect(after.some((s) => Object.values(s.labels).some((v) => v.includes(id) || v.includes('not-a-uuid') || v.includes('/no/such')))).toBe(false);
    // Node's process metrics come along.
    expect(total(after, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);
  });
});

describe('worker /metrics', () => {
  it('serves activity outcomes by name and compute kind, and the Temporal SDK runtime metrics', async () => {
    const before = await scrapeWorker();
    const created = await p.api<{ workspace: { id: string }; auth_token: string }>('POST', '/workspaces', { name: 'Metrics Worker External', runtime: 'external' });
    expect(created.status).toBe(201);
    await p.temporal.workflow.getHandle(`provision-${created.body.workspace.id}`).result();
    // Counted off the activity's path (the compute kind is looked up after it): wait for it.
    const after = await waitFor('activity outcomes counted', async () => {
      const s = await scrapeWorker();
      const n = total(s, 'molecule_worker_activity_outcomes_total', { compute: 'none', outcome: 'completed' });
      return n > total(before, 'molecule_worker_activity_outcomes_total', { compute: 'none', outcome: 'completed' }) ? s : null;
    });
    const completedByName = after.filter((s) => s.name === 'molecule_worker_activity_outcomes_total' && s.labels.outcome === 'completed');
    expect(completedByName.length).toBeGreaterThan(0);
    for (const s of completedByName) expect(s.labels.activity).toMatch(/^[a-zA-Z]+$/);
    expect(total(after, 'molecule_worker_activity_duration_seconds_count', { compute: 'none' })).toBeGreaterThan(0);
    // The SDK's own metrics, from its Rust core, on the same scrape.
    const sdk = after.filter((s) => s.name.startsWith('temporal_'));
    expect(sdk.length).toBeGreaterThan(0);
    expect(total(after, 'temporal_workflow_completed_total')).toBeGreaterThan(total(before, 'temporal_workflow_completed_total'));
    const taskLatency = 'temporal_workflow_task_execution_latency_seconds_count';
    expect(total(after, taskLatency)).toBeGreaterThan(total(before, taskLatency));
    expect(total(after, 'temporal_worker_task_slots_available')).toBeGreaterThan(0);
  });

  it('counts liveness sweep findings by kind', async () => {
    // An external agent that registered and then fell silent an hour ago: the pass moves it to awaiting_agent.
    const created = await p.api<{ workspace: { id: string }; auth_token: string }>('POST', '/workspaces', { name: 'Metrics Silent External', runtime: 'external' });
    const id = created.body.workspace.id;
    await p.temporal.workflow.getHandle(`provision-${id}`).result();
    expect((await p.api('POST', '/registry/register', { workspace_id: id }, created.body.auth_token)).status).toBe(200);
    await p.clients.pool.query(`UPDATE workspaces SET last_heartbeat_at = now() - interval '1 hour' WHERE id = $1`, [id]);
    const before = await scrapeWorker();
    await p.temporal.workflow.execute('livenessSweep', { taskQueue: p.taskQueue, workflowId: `liveness-metrics-${id}` });
    const after = await scrapeWorker();
    const labels = { sweep: 'liveness', kind: 'heartbeat', action: 'awaiting_agent' };
    expect(total(after, 'molecule_worker_sweeper_findings_total', labels)).toBeGreaterThan(total(before, 'molecule_worker_sweeper_findings_total', labels));
  });

  it('answers 404 off /metrics', async () => {
    expect((await fetch(workerMetricsUrl.replace('/metrics', '/other'))).status).toBe(404);
  });
});
