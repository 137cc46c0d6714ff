// The processes a bench run measures: the API and the worker as their own Node processes, configured
// like a deployment against this run's real servers, plus the CPU pinning the load stages use.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { openSync } from 'node:fs';
import { join } from 'node:path';
import { RUN_DIR, TEST_RUN_LABEL, type TestServers } from '../test/harness/servers';

export const ROOT = join(__dirname, '..');
export const ADMIN_TOKEN = 'bench-admin-token';

export function processEnv(servers: TestServers, apiPort: number): NodeJS.ProcessEnv {
  return {
    ...process.env,
    DATABASE_URL: servers.databaseUrl,
    TEMPORAL_ADDRESS: servers.temporalAddress,
    TEMPORAL_NAMESPACE: servers.temporalNamespace,
    TASK_QUEUE: 'bench',
    ADMIN_TOKEN,
    SECRETS_KEY: createHash('sha256').update(servers.runId).digest('hex'),
    COMPUTE_PROVIDERS: 'docker',
    DOCKER_SOCKET: servers.dockerSocket,
    DOCKER_NETWORK: 'host',
    DOCKER_EXTRA_LABELS: `${TEST_RUN_LABEL}=${servers.runId}`,
    WORKSPACE_IMAGE: servers.agentImage,
    PLATFORM_URL: `http://127.0.0.1:${apiPort}`,
    API_PORT: String(apiPort),
    HEARTBEAT_INTERVAL_SECONDS: '30',
    WORKFLOW_BUNDLE_PATH: servers.workflowBundlePath,
    SWEEPER_ENABLED: 'false',
    LOG_LEVEL: 'warn',
  };
}

/** Starts `entry` (a .ts file under the repository) as its own Node process, logging to .test-run/bench-<name>.log. */
export function startProcess(name: string, entry: string, env: NodeJS.ProcessEnv): ChildProcess {
  const out = openSync(join(RUN_DIR, `bench-${name}.log`), 'w');
  const prof = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${join(RUN_DIR, 'cpu-prof')}`] : [];
  return spawn(process.execPath, [...prof, '--import', 'tsx', join(ROOT, entry)], { env, stdio: ['ignore', out, out], cwd: ROOT });
}

/** Pins a running process (all its threads) to the given CPUs; returns its previous CPU list. */
export function pinProcess(pid: number, cpus: string): string {
  const before = spawnSync('taskset', ['-pc', String(pid)], { encoding: 'utf8' });
  if (before.status !== 0) throw new Error(`taskset -pc ${pid} failed: ${before.stderr.trim()}`);
  const previous = before.stdout.trim().split(':').pop()?.trim() ?? '';
  const set = spawnSync('taskset', ['-apc', cpus, String(pid)], { encoding: 'utf8' });
  if (set.status !== 0) throw new Error(`taskset -apc ${cpus} ${pid} failed: ${set.stderr.trim()}`);
  return previous;
}
