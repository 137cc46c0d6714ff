// `npm run bench`: measures the platform against baselines in the same run (these 2-core machines are
// noisy, so ratios are the figures that mean something). Starts the same real servers as the tests,
// runs the API and the worker as their own processes, prints a table and writes
// bench/results/<date>.json. Not part of the test suite.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import autocannon from 'autocannon';
import Docker from 'dockerode';
import { Pool } from 'pg';
import { hashToken, newAuthToken } from '../activities/crypto';
import { describeCpu, sampleCpu } from './cpu-usage';
import { workflowIds } from '../domain/vocabulary';
import { tarFiles } from '../activities/tar';
import globalSetup from '../test/harness/global-setup';
import { waitFor } from '../test/support/wait-for';
import globalTeardown from '../test/harness/global-teardown';
import { RUN_DIR, TEST_RUN_LABEL, testServers, type TestServers } from '../test/harness/servers';

const ROOT = join(__dirname, '..');
const ADMIN = 'bench-admin-token';
const API_PORT = 18080 + Math.floor(Math.random() * 1000);
const API = `http://127.0.0.1:${API_PORT}`;

interface Row {
  id: string;
  what: string;
  value: number;
  unit: string;
  baseline?: number;
  ratio?: number;
  target?: string;
  ok?: boolean;
}
const rows: Row[] = [];
/** Where the CPU went during measured rounds, printed under the table. */
const cpuNotes: string[] = [];

function env(servers: TestServers): NodeJS.ProcessEnv {
  return {
    ...process.env,
    DATABASE_URL: servers.databaseUrl,
    TEMPORAL_ADDRESS: servers.temporalAddress,
    TASK_QUEUE: 'bench',
    ADMIN_TOKEN: ADMIN,
    SECRETS_KEY: createHash('sha256').update(servers.runId).digest('hex'),
    COMPUTE_PROVIDERS: 'docker',
    DOCKER_SOCKET: servers.dockerSocket,
    DOCKER_NETWORK: 'host',
    DOCKER_EXTRA_LABELS: `${TEST_RUN_LABEL}=${servers.runId}`,
    WORKSPACE_IMAGE: servers.agentImage,
    PLATFORM_URL: API,
    API_PORT: String(API_PORT),
    HEARTBEAT_INTERVAL_SECONDS: '30',
    WORKFLOW_BUNDLE_PATH: servers.workflowBundlePath,
    SWEEPER_ENABLED: 'false',
    LOG_LEVEL: 'warn',
  };
}

function startProcess(name: string, entry: string, servers: TestServers): ChildProcess {
  const out = openSync(join(RUN_DIR, `bench-${name}.log`), 'w');
  const prof = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${join(RUN_DIR, 'cpu-prof')}`] : [];
  return spawn(process.execPath, [...prof, '--import', 'tsx', join(ROOT, entry)], { env: env(servers), stdio: ['ignore', out, out], cwd: ROOT });
}

/** Peak resident set size (VmHWM) of a process, in MB. */
function peakRssMb(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmHWM:'));
  return Math.round(Number(line?.replace(/\D+/g, '') ?? 0) / 1024);
}

async function api<T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(`${API}${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : null) as T };
}


const percentile = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];

/** A depth-4 tree of external workspaces: 1 root, 9, 90, 900 (1,000 in all). */
function bigTemplate(name: string) {
  const level = (prefix: string, n: number, children?: (i: number) => unknown[]) =>
    Array.from({ length: n }, (_, i) => ({ name: `${prefix}-${i}`, runtime: 'external', canvas: { x: i, y: i }, ...(children ? { children: children(i) } : {}) }));
  return {
    name,
    workspaces: [{ name: `${name} root`, runtime: 'external', children: level('L1', 9, (a) => level(`L2-${a}`, 10, (b) => level(`L3-${a}-${b}`, 10))) }],
  };
}

/** Baseline for B1: the same rows, tokens, layouts and events written directly, one Node process, no Temporal. */
async function baselineImport(pool: Pool, template: ReturnType<typeof bigTemplate>): Promise<number> {
  const t0 = performance.now();
  const client = await pool.connect();
  try {
    type Node = { name: string; canvas?: { x: number; y: number }; children?: Node[] };
    let level: Array<{ node: Node; parent: string | null }> = template.workspaces.map((n) => ({ node: n as Node, parent: null }));
    await client.query(`INSERT INTO structure_events (event_type, payload) VALUES ('org.import.started', '{}')`);
    while (level.length) {
      await client.query('BEGIN');
      const next: typeof level = [];
      for (const { node, parent } of level) {
        const { rows: r } = await client.query<{ id: string }>(
          `INSERT INTO workspaces (name, runtime, compute, status, parent_id) VALUES ($1, 'external', 'none', 'awaiting_agent', $2) RETURNING id`,
          [`${node.name}-baseline`, parent],
        );
        await client.query('INSERT INTO workspace_auth_tokens (workspace_id, token_hash) VALUES ($1, $2)', [r[0].id, hashToken(newAuthToken())]);
        if (node.canvas) await client.query('INSERT INTO canvas_layouts (workspace_id, x, y) VALUES ($1, $2, $3)', [r[0].id, node.canvas.x, node.canvas.y]);
        for (const c of node.children ?? []) next.push({ node: c, parent: r[0].id });
      }
      await client.query('COMMIT');
      level = next;
    }
    await client.query(`INSERT INTO structure_events (event_type, payload) VALUES ('org.import.completed', '{}')`);
  } finally {
    client.release();
  }
  return performance.now() - t0;
}

async function b1Import(pool: Pool, apiProc: ChildProcess, workerProc: ChildProcess): Promise<string> {
  const template = bigTemplate('Bench');
  const baselineMs = await baselineImport(pool, bigTemplate('Baseline'));
  const t0 = performance.now();
  const res = await api<{ import_id: string }>('POST', '/org/import', { template });
  if (res.status !== 202) throw new Error(`B1 import answered ${res.status}`);
  const view = await waitFor('B1 import', async () => {
    const v = await api<{ status: string; created_count: number }>('GET', `/org/imports/${res.body.import_id}`);
    return v.body.status !== 'running' ? v.body : null;
  }, 300_000, 100);
  const ms = performance.now() - t0;
  if (view.status !== 'completed' || view.created_count !== 1000) throw new Error(`B1 import ended ${view.status} with ${view.created_count} created`);
  rows.push({ id: 'B1', what: 'import 1,000 external workspaces (depth 4): wall time', value: Math.round(ms), unit: 'ms', baseline: Math.round(baselineMs), ratio: ms / baselineMs, target: '< 10 s, ≤ 4x', ok: ms < 10_000 && ms / baselineMs <= 4 });
  rows.push({ id: 'B1', what: 'import throughput', value: Math.round(1000 / (ms / 1000)), unit: 'workspaces/s' });
  rows.push({ id: 'B5', what: 'peak RSS of the API process (through B1)', value: peakRssMb(apiProc.pid!), unit: 'MB', target: '< 300 MB', ok: peakRssMb(apiProc.pid!) < 300 });
  rows.push({ id: 'B5', what: 'peak RSS of the worker process (through B1)', value: peakRssMb(workerProc.pid!), unit: 'MB', target: '< 300 MB', ok: peakRssMb(workerProc.pid!) < 300 });
  const { rows: root } = await pool.query<{ id: string }>(`SELECT id FROM workspaces WHERE name = 'Bench root' AND status <> 'removed'`);
  return root[0].id;
}

async function b4Delete(pool: Pool, rootId: string): Promise<void> {
  const { rows: base } = await pool.query<{ id: string }>(`SELECT id FROM workspaces WHERE name = 'Baseline root-baseline'`);
  const t0 = performance.now();
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const { rows: ids } = await client.query<{ id: string }>(
      `WITH RECURSIVE tree AS (SELECT id FROM workspaces WHERE id = $1 UNION ALL SELECT w.id FROM workspaces w JOIN tree t ON w.parent_id = t.id)
       UPDATE workspaces w SET status = 'removed', removed_at = now() FROM tree WHERE w.id = tree.id RETURNING w.id`,
      [base[0].id],
    );
    const list = ids.map((r) => r.id);
    await client.query('DELETE FROM canvas_layouts WHERE workspace_id = ANY($1::uuid[])', [list]);
    await client.query('UPDATE workspace_auth_tokens SET revoked_at = now() WHERE workspace_id = ANY($1::uuid[])', [list]);
    await client.query('UPDATE workspace_schedules SET enabled = false WHERE workspace_id = ANY($1::uuid[])', [list]);
    await client.query(`INSERT INTO structure_events (event_type, workspace_id) SELECT 'WORKSPACE_REMOVED', unnest($1::uuid[])`, [list]);
    await client.query('COMMIT');
  } finally {
    client.release();
  }
  const baselineMs = performance.now() - t0;
  const t1 = performance.now();
  const res = await api<{ cascade_deleted: number }>('DELETE', `/workspaces/${rootId}?confirm=true`);
  const ms = performance.now() - t1;
  if (res.status !== 200 || res.body.cascade_deleted !== 1000) throw new Error(`B4 delete answered ${res.status} ${JSON.stringify(res.body)}`);
  rows.push({ id: 'B4', what: 'delete cascade of the 1,000-workspace tree', value: Math.round(ms), unit: 'ms', baseline: Math.round(baselineMs), ratio: ms / baselineMs });
}

/** Creates, fills and starts one container directly with dockerode; ms until the agent read its token. */
async function directContainer(docker: Docker, servers: TestServers, name: string): Promise<number> {
  const t0 = performance.now();
  await docker.createVolume({ Name: `${name}-v`, Labels: { [TEST_RUN_LABEL]: servers.runId } });
  const c = await docker.createContainer({
    name,
    Image: servers.agentImage,
    Env: ['AGENT_BEHAVIOUR=silent'],
    Labels: { [TEST_RUN_LABEL]: servers.runId },
    HostConfig: { NetworkMode: 'host', Binds: [`${name}-v:/configs`] },
  });
  await c.putArchive(tarFiles({ '.auth_token': 'x' }), { path: '/configs' });
  await c.start();
  await waitFor('baseline agent', async () => (await c.logs({ stdout: true, stderr: true })).toString().includes('token file present'), 60_000, 50);
  return performance.now() - t0;
}

/** Provisions `n` Docker workspaces at once through the API; ms from POST to `online` for each. */
async function platformProvisions(pool: Pool, n: number, label: string): Promise<{ latencies: number[]; ids: string[]; started: Map<string, number> }> {
  const started = new Map<string, number>();
  const onlineAt = new Map<string, number>();
  await Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const t0 = performance.now();
      const res = await api<{ workspace: { id: string } }>('POST', '/workspaces', { name: `${label} ${i}`, compute: 'docker' });
      started.set(res.body.workspace.id, t0);
    }),
  );
  // `online` is read where the register endpoint writes it, every 50 ms as the baseline polls its logs:
  // one indexed query, so measuring loads neither the API nor the engine.
  const ids = [...started.keys()];
  await waitFor('all online', async () => {
    const { rows } = await pool.query<{ id: string }>(`SELECT id FROM workspaces WHERE id = ANY($1::uuid[]) AND status = 'online'`, [ids]);
    const now = performance.now();
    for (const { id } of rows) if (!onlineAt.has(id)) onlineAt.set(id, now);
    return onlineAt.size === n || null;
  }, 300_000, 50);
  return { latencies: ids.map((id) => (onlineAt.get(id) as number) - (started.get(id) as number)), ids, started };
}

async function b2Provision(pool: Pool, servers: TestServers): Promise<string[]> {
  const docker = new Docker({ socketPath: servers.dockerSocket });
  const n = 20;
  // Warm-up, not measured: the engine's first container and the worker's first workflows pay one-off
  // costs (image layers, workflow bundle, connection pools) that neither side should be judged by.
  await directContainer(docker, servers, `bench-warmup-${servers.runId}`);
  await platformProvisions(pool, 1, 'Bench warm-up');
  // Baseline: the same containers created, given their token file and started directly with dockerode,
  // timed until the agent inside has read its token (it cannot register without the platform).
  // Rounds alternate baseline and platform bursts; one pair's ratio swings by ±0.3x on these machines,
  // so the figure is the median over the rounds, and every round's ratio is printed beside it.
  const rounds = Math.max(1, Number(process.env.BENCH_B2_ROUNDS ?? 5));
  const perRound: Array<{ p50: number; b50: number; p95: number; b95: number }> = [];
  const ids: string[] = [];
  const started = new Map<string, number>();
  for (let r = 0; r < rounds; r++) {
    const c0 = sampleCpu();
    const baseline = await Promise.all(Array.from({ length: n }, (_, i) => directContainer(docker, servers, `bench-baseline-${servers.runId}-${r}-${i}`)));
    const c1 = sampleCpu();
    const platform = await platformProvisions(pool, n, `Bench Docker ${r}`);
    const c2 = sampleCpu();
    cpuNotes.push(`B2 round ${r + 1} baseline: ${describeCpu(c0, c1)}`, `B2 round ${r + 1} platform: ${describeCpu(c1, c2)}`);
    ids.push(...platform.ids);
    for (const [id, t] of platform.started) started.set(id, t);
    perRound.push({
      p50: percentile(platform.latencies, 50),
      b50: percentile(baseline, 50),
      p95: percentile(platform.latencies, 95),
      b95: percentile(baseline, 95),
    });
  }
  const median = (xs: number[]) => percentile(xs, 50);
  const ratio50 = median(perRound.map((x) => x.p50 / x.b50));
  const ratio95 = median(perRound.map((x) => x.p95 / x.b95));
  rows.push({ id: 'B2', what: `provision ${n} Docker workspaces to online: p50 (median of ${rounds} rounds)`, value: Math.round(median(perRound.map((x) => x.p50))), unit: 'ms', baseline: Math.round(median(perRound.map((x) => x.b50))), ratio: ratio50, target: '≤ 1.5x', ok: ratio50 <= 1.5 });
  rows.push({ id: 'B2', what: `provision ${n} Docker workspaces to online: p95 (median of ${rounds} rounds)`, value: Math.round(median(perRound.map((x) => x.p95))), unit: 'ms', baseline: Math.round(median(perRound.map((x) => x.b95))), ratio: ratio95 });
  rows.push({ id: 'B2', what: `p50 ratio of each round: ${perRound.map((x) => (x.p50 / x.b50).toFixed(2) + 'x').join(', ')}`, value: rounds, unit: 'rounds' });
  await provisionBreakdown(servers, ids, started);
  // The same work one at a time: what the platform adds to one provision when the cores are not shared.
  const soloBaseline: number[] = [];
  const solo: number[] = [];
  for (let i = 0; i < 5; i++) {
    soloBaseline.push(await directContainer(docker, servers, `bench-solo-${servers.runId}-${i}`));
    solo.push(...(await platformProvisions(pool, 1, `Bench Solo ${i}`)).latencies);
  }
  const s50 = percentile(solo, 50);
  const sb50 = percentile(soloBaseline, 50);
  rows.push({ id: 'B2', what: 'one Docker workspace at a time (5 in a row): p50', value: Math.round(s50), unit: 'ms', baseline: Math.round(sb50), ratio: s50 / sb50 });
  return ids;
}

/**
 * Where B2's time goes, read off each provision's workflow history (event times are the server's,
 * `started` is this process's clock; both are this machine's): p50 of each stage.
 */
async function provisionBreakdown(servers: TestServers, ids: string[], started: Map<string, number>): Promise<void> {
  const connection = await Connection.connect({ address: servers.temporalAddress });
  const client = new Client({ connection, namespace: servers.temporalNamespace });
  const epochOffset = Date.now() - performance.now();
  const stages: Record<string, number[]> = {
    'API to workflow start': [],
    'first workflow task queued': [],
    'prepare + mint + mark (local activities) to startCompute scheduled': [],
    'startCompute queued (scheduled to started)': [],
    'startCompute running': [],
    'agent boot + register (to signal)': [],
  };
  try {
    for (const id of ids) {
      const history = await client.workflow.getHandle(workflowIds.provision(id)).fetchHistory();
      type HistoryEvent = NonNullable<typeof history.events>[number];
      const ms = (e: HistoryEvent | undefined) => (e?.eventTime?.seconds ? Number(e.eventTime.seconds) * 1000 + Math.floor((e.eventTime.nanos ?? 0) / 1e6) : NaN);
      const events = history.events ?? [];
      const begun = events[0];
      const scheduled = events.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'startCompute');
      const scheduledId = scheduled?.eventId?.toString();
      const activityStarted = events.find((e) => e.activityTaskStartedEventAttributes?.scheduledEventId?.toString() === scheduledId);
      const completed = events.find((e) => e.activityTaskCompletedEventAttributes?.scheduledEventId?.toString() === scheduledId);
      const firstTask = events.find((e) => e.workflowTaskStartedEventAttributes);
      const signal = events.find((e) => e.workflowExecutionSignaledEventAttributes);
      stages['API to workflow start'].push(ms(begun) - epochOffset - (started.get(id) as number));
      stages['first workflow task queued'].push(ms(firstTask) - ms(begun));
      stages['prepare + mint + mark (local activities) to startCompute scheduled'].push(ms(scheduled) - ms(firstTask));
      stages['startCompute queued (scheduled to started)'].push(ms(activityStarted) - ms(scheduled));
      stages['startCompute running'].push(ms(completed) - ms(activityStarted));
      stages['agent boot + register (to signal)'].push(ms(signal) - ms(completed));
    }
  } finally {
    await connection.close();
  }
  for (const [stage, xs] of Object.entries(stages)) {
    rows.push({ id: 'B2', what: `stage p50: ${stage}`, value: Math.round(percentile(xs.filter(Number.isFinite), 50)), unit: 'ms' });
  }
}

async function b3Latency(workspaceId: string): Promise<void> {
  const run = (method: 'GET' | 'POST', path: string, body?: string) =>
    autocannon({
      url: `${API}${path}`,
      method,
      connections: 100,
      duration: 10,
      headers: { authorization: `Bearer ${ADMIN}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body,
    });
  const get = await run('GET', `/workspaces/${workspaceId}`);
  const health = await run('GET', '/healthz');
  const restart = await run('POST', `/workspaces/${workspaceId}/restart`, '{}');
  const errors = (r: autocannon.Result) => r.errors + r.timeouts + r.non2xx;
  rows.push({ id: 'B3', what: 'GET /healthz, 100 clients (baseline: no DB, no Temporal)', value: health.latency.p50, unit: 'ms p50', baseline: undefined });
  rows.push({ id: 'B3', what: 'GET /workspaces/:id, 100 clients: p50 / p99', value: get.latency.p50, unit: `ms p50 (p99 ${get.latency.p99})`, baseline: health.latency.p50, ratio: get.latency.p50 / Math.max(1, health.latency.p50) });
  rows.push({ id: 'B3', what: 'POST restart, 100 clients: p99', value: restart.latency.p99, unit: `ms p99 (p50 ${restart.latency.p50}, ${restart.requests.total} requests, ${errors(restart)} errors)`, target: '< 50 ms, 0 errors', ok: restart.latency.p99 < 50 && errors(restart) === 0 });
  rows.push({ id: 'B3', what: 'GET errors (timeouts, non-2xx)', value: errors(get), unit: 'count', target: '0', ok: errors(get) === 0 });
}

async function main(): Promise<void> {
  await globalSetup();
  const servers = testServers();
  const pool = new Pool({ connectionString: servers.databaseUrl, max: 4 });
  const apiProc = startProcess('api', 'api/main.ts', servers);
  const workerProc = startProcess('worker', 'worker/main.ts', servers);
  try {
    await waitFor('API up', async () => (await fetch(`${API}/readyz`)).ok, 60_000, 200);
    await waitFor('worker up', async () => readFileSync(join(RUN_DIR, 'bench-worker.log'), 'utf8').includes('worker started') || null, 60_000, 200).catch(() => undefined);
    // BENCH_ONLY=B2 (or B2,B3) runs a subset while working on one figure; B4 needs B1, B3 needs B2.
    const only = new Set((process.env.BENCH_ONLY ?? 'B1,B2,B3,B4,B5').toUpperCase().split(','));
    if (only.has('B1') || only.has('B4') || only.has('B5')) {
      const rootId = await b1Import(pool, apiProc, workerProc);
      await b4Delete(pool, rootId);
    }
    if (only.has('B2') || only.has('B3')) {
      const dockerIds = await b2Provision(pool, servers);
      if (only.has('B3')) await b3Latency(dockerIds[0]);
    }
  } finally {
    apiProc.kill('SIGTERM');
    workerProc.kill('SIGTERM');
    await pool.end();
    await globalTeardown();
  }
  const machine = { cpus: cpus().length, model: cpus()[0]?.model ?? 'unknown', memoryGb: Math.round(totalmem() / 2 ** 30), node: process.version };
  console.log(`\nbench on ${machine.cpus} cores (${machine.model}), ${machine.memoryGb} GB, Node ${machine.node}\n`);
  console.log('| id | measure | value | baseline | ratio | target | met |');
  console.log('| --- | --- | --- | --- | --- | --- | --- |');
  for (const r of rows) {
    console.log(`| ${r.id} | ${r.what} | ${r.value} ${r.unit} | ${r.baseline ?? ''} | ${r.ratio ? r.ratio.toFixed(2) + 'x' : ''} | ${r.target ?? ''} | ${r.ok === undefined ? '' : r.ok ? 'yes' : 'NO'} |`);
  }
  for (const note of cpuNotes) console.log(`\n${note}`);
  mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
  const file = join(ROOT, 'bench', 'results', `${new Date().toISOString().slice(0, 10)}-${randomUUID().slice(0, 4)}.json`);
  writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), machine, rows, cpu: cpuNotes }, null, 2));
  console.log(`\nwritten: ${file}`);
}

main().catch((err: Error) => {
  console.error(`bench failed: ${err.message}`);
  process.exit(1);
});
