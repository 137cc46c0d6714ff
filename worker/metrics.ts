// Prometheus metrics of the worker process (issue 18). One scrape endpoint, GET /metrics on
// WORKER_METRICS_HOST:WORKER_METRICS_PORT, answers both:
//   - this process's own registry: activity outcomes and durations by activity name and the
//     workspace's compute kind (counted by an activity interceptor, so no activity is edited), sweeper
//     findings by sweep, kind and action, and Node's process metrics;
//   - the Temporal SDK's runtime metrics (temporal_* : task slots, polls, schedule-to-start latency,
//     sticky cache...), which the SDK's Rust core serves on a loopback port of its own that this server
//     reads and appends. That port is picked free at start and bound to 127.0.0.1 only.
import { createServer, type Server } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { Context as ActivityContext } from '@temporalio/activity';
import { CancelledFailure } from '@temporalio/common';
import type { ActivityInboundCallsInterceptor, ActivityInterceptorsFactory } from '@temporalio/worker';
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';
import type { ActivityMetrics } from '../activities/metrics-port';

/** Seconds: a database step (ms) to a compute start or an agent's registration (minutes). */
const DURATION_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900];

/** Label of an activity that is not about one workspace (a sweep, an import level, a batch). */
export const NO_WORKSPACE = 'n/a';

export type ActivityOutcome = 'completed' | 'failed' | 'cancelled';

export interface WorkerMetrics extends ActivityMetrics {
  registry: Registry;
  activityOutcomes: Counter<'activity' | 'compute' | 'outcome'>;
  activityDuration: Histogram<'activity' | 'compute' | 'outcome'>;
  sweeperFindings: Counter<'sweep' | 'kind' | 'action'>;
}

export function createWorkerMetrics(): WorkerMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const sweeperFindings = new Counter({
    name: 'molecule_worker_sweeper_findings_total',
    help: 'Findings of the orphan and liveness sweeps, by sweep, kind (container, volume, instance, token, stuck_provision, heartbeat, engine, auto_restart) and action taken',
    labelNames: ['sweep', 'kind', 'action'],
    registers: [registry],
  });
  return {
    registry,
    activityOutcomes: new Counter({
      name: 'molecule_worker_activity_outcomes_total',
      help: 'Activity attempts by activity name, compute kind of its workspace (docker, ec2, none; n/a when not about one workspace) and outcome (completed, failed, cancelled)',
      labelNames: ['activity', 'compute', 'outcome'],
      registers: [registry],
    }),
    activityDuration: new Histogram({
      name: 'molecule_worker_activity_duration_seconds',
      help: 'Duration of activity attempts, by activity name, compute kind and outcome',
      labelNames: ['activity', 'compute', 'outcome'],
      buckets: DURATION_BUCKETS,
      registers: [registry],
    }),
    sweeperFindings,
    sweepFindings(sweep, findings) {
      for (const f of findings) sweeperFindings.inc({ sweep, kind: f.kind, action: f.action });
    },
  };
}

/** The compute kind of a workspace id, or null when unknown. Read once per workspace and kept. */
export type ComputeKindLookup = (workspaceId: string) => Promise<string | null>;

const CACHE_LIMIT = 10_000;

/** Caches a lookup: a workspace's compute kind never changes. Failed or empty lookups are not kept. */
export function cachedComputeKind(lookup: ComputeKindLookup): ComputeKindLookup {
  const cache = new Map<string, string>();
  return async (workspaceId) => {
    const hit = cache.get(workspaceId);
    if (hit) return hit;
    const kind = await lookup(workspaceId);
    if (kind) {
      if (cache.size >= CACHE_LIMIT) cache.clear();
      cache.set(workspaceId, kind);
    }
    return kind;
  };
}

function workspaceIdOf(args: readonly unknown[]): string | null {
  const first = args[0] as { workspaceId?: unknown } | undefined;
  return first && typeof first === 'object' && typeof first.workspaceId === 'string' ? first.workspaceId : null;
}

function outcomeOf(err: unknown, ctx: ActivityContext): ActivityOutcome {
  if (err instanceof CancelledFailure || ctx.cancellationSignal.aborted) return 'cancelled';
  return 'failed';
}

/**
 * Counts each activity attempt once it ends. The compute kind is looked up after the attempt, off its
 * path: a metric never delays or fails an activity.
 */
export function activityMetricsInterceptor(metrics: WorkerMetrics, computeKindOf: ComputeKindLookup): ActivityInterceptorsFactory {
  return (ctx) => {
    const inbound: ActivityInboundCallsInterceptor = {
      async execute(input, next) {
        const started = process.hrtime.bigint();
        const record = (outcome: ActivityOutcome) => {
          const seconds = Number(process.hrtime.bigint() - started) / 1e9;
          const workspaceId = workspaceIdOf(input.args);
          const kind = workspaceId ? computeKindOf(workspaceId).catch(() => null) : Promise.resolve(NO_WORKSPACE);
          void kind.then((compute) => {
            const labels = { activity: ctx.info.activityType, compute: compute ?? 'unknown', outcome };
            metrics.activityOutcomes.inc(labels);
            metrics.activityDuration.observe(labels, seconds);
          });
        };
        try {
          const result = await next(input);
          record('completed');
          return result;
        } catch (err) {
          record(outcomeOf(err, ctx));
          throw err;
        }
      },
    };
    return { inbound };
  };
}

/** A free loopback port for the SDK's own Prometheus exporter (read by the metrics server only). */
export async function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createNetServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      srv.close(() => (address && typeof address === 'object' ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

async function sdkMetrics(url: string | null): Promise<string> {
  if (!url) return '';
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    if (!res.ok) return `# Temporal SDK metrics unavailable: HTTP ${res.status}\n`;
    return await res.text();
  } catch (err) {
    return `# Temporal SDK metrics unavailable: ${(err as Error).message.replace(/\s+/g, ' ')}\n`;
  }
}

/**
 * Serves GET /metrics: this registry's text, then the SDK's (`sdkMetricsUrl`, null without it). Any
 * other path is a 404. No authentication: bind it where only the scraper reaches it.
 */
export async function startWorkerMetricsServer(opts: { host: string; port: number; registry: Registry; sdkMetricsUrl: string | null }): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    void (async () => {
      try {
        const own = await opts.registry.metrics();
        const sdk = await sdkMetrics(opts.sdkMetricsUrl);
        res.writeHead(200, { 'content-type': opts.registry.contentType }).end(`${own}\n${sdk}`);
      } catch (err) {
        res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${(err as Error).message}\n`);
      }
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  return server;
}

/**
 * The worker process's metrics, when WORKER_METRICS_PORT is set: installs the SDK runtime with its
 * Prometheus exporter (so this must run before any NativeConnection is made: the runtime is
 * process-wide) and starts the scrape server. Null when metrics are off.
 */
export async function startWorkerMetrics(
  config: { WORKER_METRICS_PORT: number; WORKER_METRICS_HOST: string },
  log: { info(obj: object, msg: string): void },
): Promise<{ metrics: WorkerMetrics; close(): Promise<void> } | null> {
  if (!config.WORKER_METRICS_PORT) return null;
  const { Runtime } = await import('@temporalio/worker');
  const sdkPort = await freeLoopbackPort();
  Runtime.install({
    telemetryOptions: { metrics: { prometheus: { bindAddress: `127.0.0.1:${sdkPort}`, countersTotalSuffix: true, useSecondsForDurations: true, unitSuffix: true } } },
  });
  const metrics = createWorkerMetrics();
  const server = await startWorkerMetricsServer({
    host: config.WORKER_METRICS_HOST,
    port: config.WORKER_METRICS_PORT,
    registry: metrics.registry,
    sdkMetricsUrl: `http://127.0.0.1:${sdkPort}/metrics`,
  });
  log.info({ metrics: `http://${config.WORKER_METRICS_HOST}:${config.WORKER_METRICS_PORT}/metrics` }, 'worker metrics served');
  return { metrics, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}
