// Jest global setup for the integration project: starts the REAL servers (Temporal dev server, the
// Podman Docker-API service, moto's EC2 server), creates and migrates a throw-away Postgres database,
// bundles the workflow code once, and writes everything to a per-run state file (named in
// MOLECULE_TEST_STATE) for the tests, so concurrent runs never collide. A server that
// cannot start fails the run with the reason; nothing is ever skipped.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DescribeImagesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { Connection } from '@temporalio/client';
import { bundleWorkflowCode } from '@temporalio/worker';
import Docker from 'dockerode';
import { Client } from 'pg';
import { migrate } from '../../db/migrate';
import { SEARCH_ATTRIBUTE_NAMES } from '../../domain/vocabulary';
import { cleanupRun } from './global-teardown';
import { freePort, isAlive, startDetached, waitUntilUp } from './processes';
import { RUN_DIR, STATE_ENV, stateFileFor, type TestServers } from './servers';

const ROOT = join(__dirname, '..', '..');
const TEMPORAL = join(ROOT, '.venv', 'bin', 'temporal');
const MOTO = join(ROOT, '.venv', 'bin', 'moto_server');
const AGENT_IMAGE = 'localhost/molecule-agent:latest';

function requireInstalled(): void {
  const missing: string[] = [];
  if (!existsSync(TEMPORAL)) missing.push(`${TEMPORAL} (Temporal CLI)`);
  if (!existsSync(MOTO)) missing.push(`${MOTO} (moto server)`);
  if (!['/usr/bin/podman', '/bin/podman'].some((p) => existsSync(p))) missing.push('podman');
  if (missing.length > 0) {
    throw new Error(`integration test servers are not installed: ${missing.join(', ')}. Run \`npm run setup\` (npm test runs it for you).`);
  }
}

function adminDatabaseUrl(): string {
  const url = new URL(process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres');
  url.pathname = '/postgres';
  return url.toString();
}

export default async function globalSetup(): Promise<void> {
  mkdirSync(RUN_DIR, { recursive: true });
  for (const f of readdirSync(RUN_DIR).filter((n) => /^state-[0-9a-f]+\.json$/.test(n))) {
    // A run whose jest process is gone died without teardown: stop its servers, remove what it made.
    // Runs still alive (a concurrent `npm test`) are left alone.
    const stale = JSON.parse(readFileSync(join(RUN_DIR, f), 'utf8')) as TestServers;
    if (stale.ownerPid && isAlive(stale.ownerPid)) continue;
    await cleanupRun(stale).catch(() => undefined);
    rmSync(join(RUN_DIR, f), { force: true });
  }
  requireInstalled();

  const runId = randomBytes(4).toString('hex');
  const stateFile = stateFileFor(runId);
  const [temporalPort, temporalHttp, temporalMetrics, motoPort] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  const dockerSocket = join(RUN_DIR, `podman-${runId}.sock`);
  const logs = { temporal: join(RUN_DIR, `temporal-${runId}.log`), podman: join(RUN_DIR, `podman-${runId}.log`), moto: join(RUN_DIR, `moto-${runId}.log`) };
  for (const f of Object.values(logs)) rmSync(f, { force: true });

  const pids: Record<string, number> = {};
  const databaseUrl = (() => {
    const url = new URL(adminDatabaseUrl());
    url.pathname = `/molecule_test_${runId}`;
    return url.toString();
  })();
  // Write the state early, so a failure below still lets teardown (or the next run) clean up.
  const state: TestServers = {
    runId,
    databaseUrl,
    temporalAddress: `127.0.0.1:${temporalPort}`,
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
  const save = () => writeFileSync(stateFile, JSON.stringify(state, null, 2));
  // Test files (and jest's worker processes, spawned after this) find the run through this variable.
  process.env[STATE_ENV] = stateFile;

  pids.temporal = startDetached(
    TEMPORAL,
    [
      'server', 'start-dev', '--headless', '--ip', '127.0.0.1', '--port', String(temporalPort), '--http-port', String(temporalHttp),
      '--metrics-port', String(temporalMetrics), '--namespace', 'default', '--log-level', 'error',
      ...SEARCH_ATTRIBUTE_NAMES.flatMap((n) => ['--search-attribute', `${n}=Keyword`]),
    ],
    logs.temporal,
  );
  pids.podman = startDetached('podman', ['system', 'service', '--time=0', `unix://${dockerSocket}`], logs.podman);
  pids.moto = startDetached(MOTO, ['-H', '127.0.0.1', '-p', String(motoPort)], logs.moto);
  save();

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
  ]);
  ec2.destroy();

  const agentImageOk = await new Docker({ socketPath: dockerSocket }).getImage(AGENT_IMAGE).inspect().then(
    () => true,
    () => false,
  );
  if (!agentImageOk) throw new Error(`agent image ${AGENT_IMAGE} is missing. Run \`npm run setup\`.`);

  const admin = new Client({ connectionString: adminDatabaseUrl() });
  await admin.connect().catch((err: Error) => {
    throw new Error(`Postgres is not reachable at ${adminDatabaseUrl()}: ${err.message}`);
  });
  await admin.query(`CREATE DATABASE molecule_test_${runId}`);
  await admin.end();
  await migrate(databaseUrl);

  const { code } = await bundleWorkflowCode({ workflowsPath: require.resolve('../../workflows'), logger: quietLogger });
  writeFileSync(state.workflowBundlePath, code);
  save();
}

const noop = () => undefined;
const quietLogger = { trace: noop, debug: noop, info: noop, warn: noop, error: (m: string) => console.error(m), log: noop };
