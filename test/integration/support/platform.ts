// An in-process platform for integration tests: the real API (Fastify on a loopback port) and a real
// Temporal worker on a task queue of its own, both wired to the servers global setup started.
import { createHash, randomUUID } from 'node:crypto';
import { EC2Client } from '@aws-sdk/client-ec2';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, type Worker } from '@temporalio/worker';
import Docker from 'dockerode';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import type { ComputePorts } from '../../../activities/compute-ports';
import { buildApp } from '../../../api/app';
import { ensureDatabase, migrate } from '../../../db/migrate';
import { loadConfig, type Config } from '../../../config';
import { buildClients, type PlatformClients } from '../../../worker/clients';
import { createWorker } from '../../../worker/create-worker';
import { TEST_RUN_LABEL, testServers, type TestServers } from '../../harness/servers';

export { waitFor } from '../../support/wait-for';

export const ADMIN_TOKEN = 'test-admin-token-0123456789';

export interface Platform {
  servers: TestServers;
  config: Config;
  clients: PlatformClients;
  temporal: Client;
  docker: Docker;
  ec2: EC2Client;
  app: FastifyInstance;
  url: string;
  taskQueue: string;
  worker: Worker | null;
  api<T = Record<string, unknown>>(method: string, path: string, body?: unknown, token?: string | null): Promise<{ status: number; body: T }>;
  startWorker(): Promise<void>;
  stopWorker(): Promise<void>;
  close(): Promise<void>;
}

export interface PlatformOptions {
  env?: Record<string, string>;
  /** false: no in-process worker (a test runs its own, e.g. as a child process). */
  worker?: boolean;
  /** Another Temporal server than the run's (F2 restarts its own, persistent one). */
  temporalAddress?: string;
  /** Fault injection for the worker's compute ports; the wrapped ports are still the real clients. */
  wrapCompute?: (ports: ComputePorts) => ComputePorts;
}

export function testEnv(servers: TestServers, taskQueue: string): Record<string, string> {
  return {
    DATABASE_URL: servers.databaseUrl,
    TEMPORAL_ADDRESS: servers.temporalAddress,
    TEMPORAL_NAMESPACE: servers.temporalNamespace,
    TASK_QUEUE: taskQueue,
    ADMIN_TOKEN,
    // One key per test run: every test file shares the run's database and its encrypted rows.
    SECRETS_KEY: createHash('sha256').update(`secrets-key:${servers.runId}`).digest('hex'),
    COMPUTE_PROVIDERS: 'docker,ec2',
    DOCKER_SOCKET: servers.dockerSocket,
    DOCKER_NETWORK: 'host',
    DOCKER_EXTRA_LABELS: `${TEST_RUN_LABEL}=${servers.runId}`,
    EC2_EXTRA_TAGS: `${TEST_RUN_LABEL}=${servers.runId}`,
    WORKSPACE_IMAGE: servers.agentImage,
    EC2_ENDPOINT: servers.ec2Endpoint,
    EC2_AMI_ID: servers.ec2AmiId,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    HEARTBEAT_INTERVAL_SECONDS: '2',
    // One database serves every test file of a run, and files that finished leave their agents behind
    // (their API is gone, so they fall silent): automatic restarts would bring those back in whatever
    // file runs a liveness pass next. The self-healing suite turns them on in a database of its own.
    AUTO_RESTART: 'off',
    LOG_LEVEL: 'warn',
  };
}

function quietTemporalRuntime(): void {
  try {
    Runtime.install({ logger: new DefaultLogger('ERROR') });
  } catch {
    /* already installed in this process */
  }
}

export async function startPlatform(opts: PlatformOptions = {}): Promise<Platform> {
  quietTemporalRuntime();
  const run = testServers();
  const servers = opts.temporalAddress ? { ...run, temporalAddress: opts.temporalAddress } : run;
  const taskQueue = `test-${randomUUID().slice(0, 8)}`;
  const env = { ...testEnv(servers, taskQueue), ...opts.env };
  // The AWS SDK reads credentials from the environment.
  process.env.AWS_ACCESS_KEY_ID = env.AWS_ACCESS_KEY_ID;
  process.env.AWS_SECRET_ACCESS_KEY = env.AWS_SECRET_ACCESS_KEY;
  const config = loadConfig(env);
  const log = pino({ level: 'warn' });
  const clients = buildClients(config, log);
  const connection = await Connection.connect({ address: servers.temporalAddress });
  const temporal = new Client({ connection, namespace: servers.temporalNamespace });
  const app = await buildApp({ config, store: clients.store, box: clients.box, temporal, compute: clients.compute, logger: false });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  if (!address || typeof address === 'string') throw new Error('API did not bind a TCP port');
  const url = `http://127.0.0.1:${address.port}`;
  // Agents in containers (host network) call back to this API.
  config.PLATFORM_URL = url;

  let nativeConnection: NativeConnection | null = null;
  let runPromise: Promise<void> | null = null;
  const platform: Platform = {
    servers,
    config,
    clients,
    temporal,
    docker: new Docker({ socketPath: servers.dockerSocket }),
    ec2: new EC2Client({ region: 'us-east-1', endpoint: servers.ec2Endpoint, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } }),
    app,
    url,
    taskQueue,
    worker: null,
    async api(method, path, body, token = ADMIN_TOKEN) {
      const headers: Record<string, string> = {};
      if (token) headers.authorization = `Bearer ${token}`;
      if (body !== undefined) headers['content-type'] = 'application/json';
      const res = await fetch(`${url}${path}`, { method, headers, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = text ? JSON.parse(text) : null;
      } catch {
        /* non-JSON answer: keep text */
      }
      return { status: res.status, body: parsed as never };
    },
    async startWorker() {
      nativeConnection = await NativeConnection.connect({ address: servers.temporalAddress });
      platform.worker = await createWorker({
        connection: nativeConnection,
        namespace: servers.temporalNamespace,
        taskQueue,
        deps: { store: clients.store, box: clients.box, config, compute: opts.wrapCompute ? opts.wrapCompute(clients.compute) : clients.compute, log, temporal },
        workflowBundlePath: servers.workflowBundlePath,
      });
      runPromise = platform.worker.run();
    },
    async stopWorker() {
      if (platform.worker && platform.worker.getState() === 'RUNNING') platform.worker.shutdown();
      await runPromise;
      // Closed once: stopWorker runs again from close(), and a worker may be started and stopped many times.
      const closing = nativeConnection;
      nativeConnection = null;
      await closing?.close();
      platform.worker = null;
      runPromise = null;
    },
    async close() {
      await platform.stopWorker();
      await app.close();
      await connection.close();
      await clients.close();
      platform.ec2.destroy();
    },
  };
  if (opts.worker !== false) await platform.startWorker();
  return platform;
}


/**
 * A database of the suite's own, migrated, beside the run's shared one (named after it, so teardown
 * drops it too): for a suite whose passes act on every row of a database (automatic restarts).
 */
export async function testDatabase(suffix: string): Promise<string> {
  if (!/^[a-z0-9]{1,20}$/.test(suffix)) throw new Error('testDatabase: suffix of a-z and 0-9 only');
  const url = new URL(testServers().databaseUrl);
  url.pathname = `${url.pathname}_${suffix}`;
  await ensureDatabase(url.toString());
  await migrate(url.toString());
  return url.toString();
}

export interface ExtraApi {
  app: FastifyInstance;
  clients: PlatformClients;
  close(): Promise<void>;
}

/**
 * The platform's API once more, with its own config over the same servers, database and task queue (no
 * worker of its own): for a test that needs the API configured otherwise (no SECRETS_KEY, another
 * EXTERNAL_PLATFORM_URL, ...), optionally with its compute ports wrapped.
 */
export async function startExtraApi(p: Platform, env: Record<string, string>, wrapCompute?: (ports: ComputePorts) => ComputePorts): Promise<ExtraApi> {
  const config = loadConfig({ ...testEnv(p.servers, p.taskQueue), ...env });
  const clients = buildClients(config, pino({ level: 'silent' }));
  const connection = await Connection.connect({ address: p.servers.temporalAddress });
  const temporal = new Client({ connection, namespace: p.servers.temporalNamespace });
  const compute = wrapCompute ? wrapCompute(clients.compute) : clients.compute;
  const app = await buildApp({ config, store: clients.store, box: clients.box, temporal, compute, logger: false });
  return {
    app,
    clients,
    async close() {
      await app.close();
      await connection.close();
      await clients.close();
    },
  };
}
