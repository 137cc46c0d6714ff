// Worker process: connects to Temporal, registers every workflow and activity, shuts down gracefully
// on SIGTERM/SIGINT (the SDK drains in-flight activities before exiting).
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import pino from 'pino';
import { loadConfig } from '../config';
import { temporalConnectionOptions } from '../config/temporal-tls';
import { migrate } from '../db/migrate';
import { sealLegacySnapshots } from '../activities/template-snapshot';
import { buildClients } from './clients';
import { createWorker } from './create-worker';
import { startHealthFile } from './health-file';
import { resolveWorkflowSource } from './workflow-bundle';
import { ensureLivenessSchedule, ensureSweeperSchedule } from './sweeper-schedule';
import { ensureIdleMonitorSchedule } from './idle-monitor-schedule';
import { startWorkerMetrics } from './metrics';

async function main(): Promise<void> {
  const config = loadConfig();
  const log = pino({ level: config.LOG_LEVEL, name: 'worker' });
  // Resolved first, so a build without its bundle fails before anything connects.
  const workflows = resolveWorkflowSource(config.WORKFLOW_BUNDLE_PATH);
  if (workflows.kind === 'prebuilt') log.info({ workflowBundle: workflows.codePath, from: workflows.from }, 'using the pre-built workflow bundle');
  else log.info('bundling the workflow code at start (running from source)');
  await migrate(config.DATABASE_URL);
  const clients = buildClients(config, log);
  if (config.SECRETS_KEY) {
    const sealed = await sealLegacySnapshots(clients.pool, clients.box);
    if (sealed > 0) log.info({ sealed }, 'sealed env values of import snapshots written before the sealed-snapshot migration');
  }
  // Before the first NativeConnection: it installs the SDK runtime with its Prometheus exporter.
  const served = await startWorkerMetrics(config, log);
  const connection = await NativeConnection.connect(temporalConnectionOptions(config));
  // A plain client too: delete activities wait on cancelled workflows through it.
  const clientConnection = await Connection.connect(temporalConnectionOptions(config));
  const temporal = new Client({ connection: clientConnection, namespace: config.TEMPORAL_NAMESPACE });
  const worker = await createWorker({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: config.TASK_QUEUE,
    deps: { store: clients.store, box: clients.box, config, compute: clients.compute, log, temporal },
    workflowBundlePath: workflows.kind === 'prebuilt' ? workflows.codePath : undefined,
    metrics: served?.metrics,
  });
  if (config.SWEEPER_ENABLED === 'true') {
    const schedule = await ensureSweeperSchedule(temporal, config.TASK_QUEUE, { triggerNow: true });
    log.info({ schedule }, 'orphan sweeper schedule ready');
    const liveness = await ensureLivenessSchedule(temporal, config.TASK_QUEUE);
    log.info({ schedule: liveness }, 'liveness sweeper schedule ready');
    const idle = await ensureIdleMonitorSchedule(temporal, config.TASK_QUEUE);
    log.info({ schedule: idle }, 'idle monitor schedule ready');
  }
  log.info({ taskQueue: config.TASK_QUEUE, address: config.TEMPORAL_ADDRESS }, 'worker started');
  // Worker.run() installs SIGINT/SIGTERM handlers that call shutdown() and resolves once drained.
  const running = worker.run();
  const stopHealthFile = startHealthFile(config.WORKER_HEALTH_FILE, () => worker.getState() === 'RUNNING', (err) =>
    log.warn({ err: err.message, file: config.WORKER_HEALTH_FILE }, 'could not refresh the health file'),
  );
  await running.finally(stopHealthFile);
  await connection.close();
  await clientConnection.close();
  await clients.close();
  await served?.close();
  log.info('worker stopped');
}

main().catch((err: Error) => {
  console.error(JSON.stringify({ level: 'fatal', msg: 'worker failed', err: err.message }));
  process.exit(1);
});
