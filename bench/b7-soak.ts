// B7 (issue #19): a soak of mixed traffic at a fixed rate. Heartbeats of 200 external agents, reads,
// Docker provisions deleted again, restarts of long-lived Docker workspaces and org imports run side by
// side for a warm-up of WARMUP_S and then BENCH_SOAK_SECONDS (600) measured, on an open-loop schedule.
// What it looks for is drift, not speed: each route's p99 in the last window against the first, the API's
// and worker's RSS over time, Postgres connections staying under the pools' maxima, and no container
// outliving its workspace.
import { cpus } from 'node:os';
import Docker from 'dockerode';
import { type BenchContext, type BenchStage, rssMb } from './context';
import { fixedRate, RouteRecorder } from './open-loop';
import { describeCpu, sampleCpu, type CpuSample } from './cpu-usage';
import { type Agent, containersOf, createAgents, inBatches, machineCpuMs, processCpuMs, provisionDocker, volumesOf, waitForDeletes } from './soak-fleet';

// Two minutes: the API's RSS settles in its first two to three minutes of traffic (V8's young generation
// grows to the allocation rate), which a 30 s warm-up counted as growth. The by-minute rows still list
// the warm-up minutes, so the settling stays visible.
const WARMUP_S = 120;
const WINDOW_S = 60;
/** A window's p99 needs answers: a route's first and last windows widen (whole minutes) until they hold this many. */
const MIN_WINDOW_ANSWERS = 30;
const SAMPLE_EVERY_S = 5;
const PROGRESS_EVERY_S = 30;

// The rates, chosen for a 2-core machine whose containers are real (Podman): the Docker work is a few
// operations a minute, the database routes carry the volume. run.ts starts the API with
// HEARTBEAT_INTERVAL_SECONDS=30, so 200 agents beat 200 / 30 = 6.7 times a second.
const AGENTS = 200;
const HEARTBEAT_INTERVAL_S = 30;
const READS_PER_S = 5;
const PROVISION_EVERY_S = 10;
const DELETE_AFTER_S = 30;
const LONG_LIVED = 3;
const RESTART_EVERY_S = 5;
const IMPORT_EVERY_S = 20;
const IMPORT_SIZE = 20;
/** The pools' maxima: API and worker each `new Pool({ max: 20 })` (worker/clients.ts), the bench's own max 4. */
const PG_POOL_BOUND = 20 + 20 + 4;

const RATES =
  `${(AGENTS / HEARTBEAT_INTERVAL_S).toFixed(1)} heartbeats/s (${AGENTS} agents every ${HEARTBEAT_INTERVAL_S} s), ${READS_PER_S} reads/s, ` +
  `1 Docker provision / ${PROVISION_EVERY_S} s (deleted ${DELETE_AFTER_S} s later), 1 restart / ${RESTART_EVERY_S} s over ${LONG_LIVED} Docker workspaces, ` +
  `1 import of ${IMPORT_SIZE} external / ${IMPORT_EVERY_S} s (the previous one deleted)`;

const ROUTES = {
  heartbeat: 'POST /registry/heartbeat',
  read: 'GET /workspaces/:id',
  provision: 'POST /workspaces (docker)',
  deleteDocker: 'DELETE /workspaces/:id (docker)',
  restart: 'POST /workspaces/:id/restart',
  importOrg: 'POST /org/import',
  importView: 'GET /org/imports/:id (polled)',
  deleteImport: `DELETE /workspaces/:id (import tree of ${IMPORT_SIZE})`,
} as const;

interface Sample {
  /** Seconds since the soak's clock started. */
  t: number;
  api: number;
  worker: number;
  pg: number;
  containers: number;
  /** Cumulative CPU ms of the API, the worker and the whole machine (busy and all) at `t`. */
  apiCpu: number;
  workerCpu: number;
  busy: number;
  all: number;
  /** CPU by process group (engine, temporal, postgres, api, worker), to say whose the machine's load was. */
  groups: CpuSample;
}

const clock = (s: number) => `${Math.floor(s / 60)}:${String(Math.floor(s % 60)).padStart(2, '0')}`;
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

export const b7Soak: BenchStage = {
  id: 'B7',
  title: 'soak: mixed traffic at a fixed rate, drift of p99, RSS, Postgres connections and containers',
  run: async (ctx) => {
    const measuredS = Number(process.env.BENCH_SOAK_SECONDS ?? 600);
    if (!(measuredS >= 2 * WINDOW_S)) throw new Error(`BENCH_SOAK_SECONDS must be at least ${2 * WINDOW_S} (a first and a last window)`);
    const durationS = WARMUP_S + measuredS;
    const docker = new Docker({ socketPath: ctx.servers.dockerSocket });
    const setup = new RouteRecorder(ctx.apiUrl, ctx.adminToken, performance.now());
    ctx.progress(`B7 setup: ${AGENTS} external agents, ${LONG_LIVED} long-lived Docker workspaces`);
    const agents = await createAgents(setup, AGENTS, 'Soak agent');
    const longLived = await provisionDocker(ctx, setup, LONG_LIVED, 'Soak long-lived');
    const soakWorkspaces = new Set<string>(longLived);
    const deleted = new Set<string>();

    const zero = performance.now();
    const stopAt = zero + durationS * 1000;
    const rec = new RouteRecorder(ctx.apiUrl, ctx.adminToken, zero);
    const chains = new Set<Promise<void>>();
    // A chain that throws (a sample's query, an import's lookup) is counted as an error of its own,
    // never left as an unhandled rejection that would end the bench.
    const track = (what: string, p: Promise<void>) => {
      const settled = p.catch((err: Error) => rec.fail(what, `${what}: ${err.message}`));
      chains.add(settled);
      void settled.finally(() => chains.delete(settled));
    };

    // Each agent beats once per interval, the fleet spread evenly over it.
    const heartbeats = fixedRate((HEARTBEAT_INTERVAL_S * 1000) / AGENTS, zero, stopAt, (k, dueAt) => {
      const agent = agents[k % AGENTS] as Agent;
      void rec.call(ROUTES.heartbeat, 'POST', '/registry/heartbeat', { token: agent.token, dueAt, body: { workspace_id: agent.id, active_tasks: 0, current_task: '', error_rate: 0 } });
    });
    // One read in five is of a Docker workspace: its view asks Temporal for the provision operation.
    const reads = fixedRate(1000 / READS_PER_S, zero, stopAt, (k, dueAt) => {
      const id = k % 5 === 0 ? longLived[(k / 5) % LONG_LIVED] : agents[k % AGENTS].id;
      void rec.call(ROUTES.read, 'GET', `/workspaces/${id}`, { dueAt });
    });
    const provisioned = new Map<number, Promise<string | null>>();
    const provisions = fixedRate(PROVISION_EVERY_S * 1000, zero, stopAt, (k, dueAt) => {
      const id = rec
        .call<{ workspace: { id: string } }>(ROUTES.provision, 'POST', '/workspaces', { dueAt, body: { name: `Soak churn ${k}`, compute: 'docker' } })
        .then((res) => res?.workspace.id ?? null);
      provisioned.set(k, id);
      track(ROUTES.provision, id.then((ws) => void (ws && soakWorkspaces.add(ws))));
    });
    const deleteChurn = (k: number, dueAt: number) =>
      (provisioned.get(k) ?? Promise.resolve(null)).then(async (id) => {
        provisioned.delete(k);
        if (!id) return;
        deleted.add(id);
        await rec.call(ROUTES.deleteDocker, 'DELETE', `/workspaces/${id}?confirm=true`, { dueAt: Math.max(dueAt, performance.now()), timeoutMs: 60_000 });
      });
    const deletes = fixedRate(PROVISION_EVERY_S * 1000, zero, stopAt, (k, dueAt) => track(ROUTES.deleteDocker, deleteChurn(k, dueAt)), DELETE_AFTER_S * 1000);
    const restarts = fixedRate(RESTART_EVERY_S * 1000, zero, stopAt, (k, dueAt) => {
      void rec.call(ROUTES.restart, 'POST', `/workspaces/${longLived[k % LONG_LIVED]}/restart`, { dueAt, body: {} });
    });
    let previousImportRoot: string | null = null;
    const importOnce = async (k: number, dueAt: number): Promise<void> => {
      const rootName = `Soak import ${k} root`;
      const template = {
        name: `Soak import ${k}`,
        workspaces: [{ name: rootName, runtime: 'external', children: Array.from({ length: IMPORT_SIZE - 1 }, (_, i) => ({ name: `Soak import ${k} child ${i}`, runtime: 'external' })) }],
      };
      const started = await rec.call<{ import_id: string }>(ROUTES.importOrg, 'POST', '/org/import', { dueAt, body: { template } });
      if (!started) return;
      // An import of 20 takes well under a second; two minutes without an end is an error, not a wait.
      for (const deadline = performance.now() + 120_000; ; ) {
        const view = await rec.call<{ status: string; error?: string | null }>(ROUTES.importView, 'GET', `/org/imports/${started.import_id}`);
        if (view && view.status !== 'running') {
          if (view.status !== 'completed') rec.fail(ROUTES.importOrg, `import ${started.import_id} ended ${view.status}: ${view.error ?? ''}`);
          break;
        }
        if (performance.now() > deadline) {
          rec.fail(ROUTES.importOrg, `import ${started.import_id} still running after 120 s`);
          break;
        }
        await new Promise((r) => setTimeout(r, 500));
      }
      const { rows } = await ctx.pool.query<{ id: string }>(`SELECT id FROM workspaces WHERE name = $1 AND status <> 'removed'`, [rootName]);
      const previous = previousImportRoot;
      previousImportRoot = rows[0]?.id ?? null;
      if (previous) {
        deleted.add(previous);
        await rec.call(ROUTES.deleteImport, 'DELETE', `/workspaces/${previous}?confirm=true`, { timeoutMs: 60_000 });
      }
    };
    const imports = fixedRate(IMPORT_EVERY_S * 1000, zero, stopAt, (k, dueAt) => track(ROUTES.importOrg, importOnce(k, dueAt)));

    const samples: Sample[] = [];
    const sampling = fixedRate(SAMPLE_EVERY_S * 1000, zero, stopAt, () => {
      track(
        'bench sample',
        (async () => {
          const t = (performance.now() - zero) / 1000;
          const { rows } = await ctx.pool.query<{ n: string }>('SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database()');
          const containers = (await containersOf(docker, ctx.servers.runId, soakWorkspaces)).length;
          const apiPid = ctx.apiProc.pid as number;
          const workerPid = ctx.workerProc.pid as number;
          const machine = machineCpuMs();
          samples.push({ t, api: rssMb(apiPid), worker: rssMb(workerPid), pg: Number(rows[0].n), containers, apiCpu: processCpuMs(apiPid), workerCpu: processCpuMs(workerPid), ...machine, groups: sampleCpu() });
        })(),
      );
    });
    const progress = fixedRate(PROGRESS_EVERY_S * 1000, zero, stopAt + 1, () => {
      const last = samples[samples.length - 1];
      const { count, errors } = rec.totals();
      const at = Math.min(durationS, (performance.now() - zero) / 1000);
      ctx.progress(
        `B7 soak: ${clock(at)} / ${clock(durationS)}, ${count.toLocaleString('en-US')} requests, ${errors} errors` +
          (last ? `, api ${last.api} MB, worker ${last.worker} MB, pg ${last.pg} conns, ${last.containers} containers` : ''),
      );
    }, PROGRESS_EVERY_S * 1000);

    await Promise.all([heartbeats, reads, provisions, deletes, restarts, imports, sampling, progress]);
    while (chains.size > 0) await Promise.allSettled([...chains]);
    await rec.drain();

    report(ctx, rec, samples, durationS);

    // Cleanup, not measured: whatever the soak left alive is deleted, then every cascade is waited for
    // and no container of a deleted workspace may remain.
    ctx.progress('B7 cleanup: deleting what the soak left and waiting for the cascades');
    const roots = [...new Set([...(await Promise.all(provisioned.values())).filter((id): id is string => id !== null), ...longLived, ...(previousImportRoot ? [previousImportRoot] : []), ...agents.map((a) => a.id)])];
    const cleanup = new RouteRecorder(ctx.apiUrl, ctx.adminToken, performance.now());
    await inBatches(roots, 10, async (id) => {
      deleted.add(id);
      await cleanup.call('cleanup DELETE /workspaces/:id', 'DELETE', `/workspaces/${id}?confirm=true`, { timeoutMs: 60_000 });
    });
    await waitForDeletes(ctx, [...deleted]);
    const left = await containersOf(docker, ctx.servers.runId, deleted);
    const volumesLeft = await volumesOf(docker, ctx.servers.runId, deleted);
    const cleanupErrors = cleanup.totals();
    ctx.record({ id: 'B7', what: `cleanup deletes (${roots.length}) that failed${cleanupErrors.examples.length ? `: ${cleanupErrors.examples.join('; ')}` : ''}`, value: cleanupErrors.errors, unit: 'count', target: '0', ok: cleanupErrors.errors === 0 });
    ctx.record({ id: 'B7', what: `containers left of the ${deleted.size} deleted workspaces, after every delete cascade ended${left.length ? `: ${left.slice(0, 5).join(', ')}` : ''}`, value: left.length, unit: 'containers', target: '0', ok: left.length === 0 });
    ctx.record({ id: 'B7', what: `volumes left of the deleted workspaces (a delete removes the /configs volume)${volumesLeft.length ? `: ${volumesLeft.slice(0, 5).join(', ')}` : ''}`, value: volumesLeft.length, unit: 'volumes', target: '0', ok: volumesLeft.length === 0 });
  },
};

/** Every whole minute from `fromS` (by default the warm-up's end), then the last minute (which may overlap the one before). */
function minutes(durationS: number, fromS = WARMUP_S): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let from = fromS; from + WINDOW_S <= durationS; from += WINDOW_S) out.push([from * 1000, (from + WINDOW_S) * 1000]);
  if (out[out.length - 1]?.[1] !== durationS * 1000) out.push([(durationS - WINDOW_S) * 1000, durationS * 1000]);
  return out;
}

/** The soak's figures: per-route first and last minute, errors, RSS growth, connections, containers. */
function report(ctx: BenchContext, rec: RouteRecorder, samples: Sample[], durationS: number): void {
  const first: [number, number] = [WARMUP_S * 1000, (WARMUP_S + WINDOW_S) * 1000];
  const last: [number, number] = [(durationS - WINDOW_S) * 1000, durationS * 1000];
  const overlap = last[0] < first[1] ? ` (windows overlap: run at least ${WARMUP_S + 2 * WINDOW_S} s)` : '';
  const total = rec.totals();
  ctx.record({ id: 'B7', what: `soak of ${clock(durationS)} (warm-up ${WARMUP_S} s): ${RATES}`, value: total.count, unit: 'requests' });
  ctx.record({
    id: 'B7',
    what: `errors (non-2xx, network, timeout) over the whole soak${total.examples.length ? `: ${total.examples.slice(0, 3).join('; ')}` : ''}`,
    value: total.errors,
    unit: 'count',
    target: '0',
    ok: total.errors === 0,
  });
  for (const route of Object.values(ROUTES)) {
    const { count, errors } = rec.totals(route);
    if (count === 0) continue;
    // A route with a handful of answers a minute has no p99 in a minute (it is the minute's slowest
    // answer, and two maxima of 6 samples differ by 2x at random): its windows widen by whole minutes
    // until the first holds MIN_WINDOW_ANSWERS, at most half the measured time each.
    let widthS = WINDOW_S;
    while (rec.window(route, WARMUP_S * 1000, (WARMUP_S + widthS) * 1000).count < MIN_WINDOW_ANSWERS && widthS + WINDOW_S <= (durationS - WARMUP_S) / 2) widthS += WINDOW_S;
    const a = rec.window(route, WARMUP_S * 1000, (WARMUP_S + widthS) * 1000);
    const b = rec.window(route, (durationS - widthS) * 1000, durationS * 1000);
    const ratio = b.p99 / a.p99;
    const windows = widthS === WINDOW_S ? 'last minute vs first' : `last ${widthS / 60} minutes vs first ${widthS / 60} (${a.count} answers a window)`;
    const sparse = a.count < 100 ? `; p99 of ${a.count} answers is near their max (${Math.round(a.max)} / ${Math.round(b.max)} ms)` : '';
    // For the busy routes every minute's p99 is listed, so that a last minute that is merely noisy can
    // be told from a trend.
    const byMinute = a.count >= 100 ? `; p99 by minute: ${minutes(durationS).map((w) => Math.round(rec.window(route, ...w).p99)).join(' ')}` : '';
    ctx.record({
      id: 'B7',
      what: `${route}: p99 ${windows}${widthS === WINDOW_S ? overlap : ''}${sparse}${byMinute}`,
      value: Math.round(b.p99),
      unit: `ms p99 (p50 ${Math.round(a.p50)} -> ${Math.round(b.p50)} ms; ${a.count} / ${b.count} in the windows; ${count} requests, ${errors} errors)`,
      baseline: Math.round(a.p99),
      ratio: Number.isFinite(ratio) ? ratio : undefined,
      target: '≤ 1.2x',
      ok: Number.isFinite(ratio) && ratio <= 1.2,
    });
  }
  const inWindow = ([from, to]: [number, number]) => samples.filter((s) => s.t * 1000 >= from && s.t * 1000 < to);
  for (const proc of ['api', 'worker'] as const) {
    const a = mean(inWindow(first).map((s) => s[proc]));
    const b = mean(inWindow(last).map((s) => s[proc]));
    const growth = b / a - 1;
    ctx.record({
      id: 'B7',
      what: `${proc === 'api' ? 'API' : 'worker'} RSS growth: mean of the last minute vs the first after warm-up${overlap}; mean MB by minute, the ${WARMUP_S / 60} of warm-up first: ${minutes(durationS, 0).map((w) => Math.round(mean(inWindow(w).map((s) => s[proc])))).join(' ')}`,
      value: Math.round(growth * 1000) / 10,
      unit: `% (${Math.round(a)} -> ${Math.round(b)} MB, max ${Math.max(...samples.map((s) => s[proc]))} MB)`,
      target: '< 10%',
      ok: growth < 0.1,
    });
  }
  // CPU per window: the machine's busy share (all cores) and the share of one core the API and the
  // worker used. Latency on 2 shared cores follows the machine's load; this says whose it was.
  const cpu = (w: [number, number]) => {
    const xs = inWindow(w).sort((x, y) => x.t - y.t);
    const a = xs[0];
    const b = xs[xs.length - 1];
    if (!a || a === b) return 'n/a';
    const wall = (b.t - a.t) * 1000;
    const pct = (ms: number) => `${Math.round((100 * ms) / wall)}%`;
    return `machine ${Math.round((100 * (b.busy - a.busy)) / (b.all - a.all))}% busy, API ${pct(b.apiCpu - a.apiCpu)}, worker ${pct(b.workerCpu - a.workerCpu)} of a core (${describeCpu(a.groups, b.groups)})`;
  };
  const busyByMinute = minutes(durationS).map((w) => {
    const xs = inWindow(w);
    const [a, b] = [xs[0], xs[xs.length - 1]];
    return a && b && b.all > a.all ? Math.round((100 * (b.busy - a.busy)) / (b.all - a.all)) : NaN;
  });
  ctx.record({ id: 'B7', what: `CPU: first minute ${cpu(first)}; last minute ${cpu(last)}; machine % busy by minute: ${busyByMinute.join(' ')}`, value: cpus().length, unit: 'cores' });
  const maxPg = Math.max(...samples.map((s) => s.pg));
  const maxAt = samples.find((s) => s.pg === maxPg)?.t ?? 0;
  ctx.record({
    id: 'B7',
    what: `Postgres connections of the run's database: max of ${samples.length} samples, at ${clock(maxAt)} (first minute ${Math.max(...inWindow(first).map((s) => s.pg))}, last ${Math.max(...inWindow(last).map((s) => s.pg))})`,
    value: maxPg,
    unit: 'connections',
    target: `≤ ${PG_POOL_BOUND} (pools: API 20, worker 20, bench 4)`,
    ok: maxPg <= PG_POOL_BOUND,
  });
  ctx.record({ id: 'B7', what: 'containers of the soak\'s workspaces alive at once (max of the samples)', value: Math.max(...samples.map((s) => s.containers)), unit: 'containers' });
}
