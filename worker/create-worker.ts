// Wires activities (with injected clients) and workflow code into a Temporal Worker.
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../activities';
import { activityMetricsInterceptor, cachedComputeKind, type WorkerMetrics } from './metrics';

export interface CreateWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  deps: ActivityDeps;
  /** Pre-bundled workflow code (tests bundle once); otherwise bundled from workflows/ at start. */
  workflowBundlePath?: string;
  maxConcurrentActivityTaskExecutions?: number;
  /** Counts activity outcomes and sweeper findings into this registry (worker/metrics.ts). */
  metrics?: WorkerMetrics;
}

export async function createWorker(opts: CreateWorkerOptions): Promise<Worker> {
  const workflowSource: Pick<WorkerOptions, 'workflowBundle' | 'workflowsPath'> = opts.workflowBundlePath
    ? { workflowBundle: { codePath: opts.workflowBundlePath } }
    : { workflowsPath: require.resolve('../workflows') };
  const { metrics } = opts;
  const computeKindOf = cachedComputeKind(async (workspaceId) => {
    const { rows } = await opts.deps.store.pool.query<{ compute: string }>('SELECT compute FROM workspaces WHERE id = $1', [workspaceId]);
    return rows[0]?.compute ?? null;
  });
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace,
    taskQueue: opts.taskQueue,
    activities: createActivities(metrics ? { ...opts.deps, metrics } : opts.deps),
    ...(metrics ? { interceptors: { activity: [activityMetricsInterceptor(metrics, computeKindOf)] } } : {}),
    maxConcurrentActivityTaskExecutions: opts.maxConcurrentActivityTaskExecutions ?? 50,
    ...workflowSource,
  });
}
