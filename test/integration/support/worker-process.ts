// Runs the real worker entry point (worker/main.ts) as a child process, so tests can SIGKILL it at any
// line and start a new one, as a crashed deployment would.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RUN_DIR } from '../../harness/servers';
import { testEnv, waitFor, type Platform } from './platform';

const ROOT = join(__dirname, '..', '..', '..');
let spawned = 0;

export interface WorkerProcess {
  child: ChildProcess;
  logFile: string;
  kill(): Promise<void>;
}

/** One of the platform's entry points (worker/main.ts, api/main.ts) as a child process, ready when `ready` says so. */
async function startEntryProcess(
  p: Platform,
  entry: 'worker' | 'api',
  extraEnv: Record<string, string>,
  ready: (log: string) => boolean | Promise<boolean>,
): Promise<WorkerProcess> {
  const logFile = join(RUN_DIR, `${entry}-process-${process.pid}-${++spawned}.log`);
  const out = openSync(logFile, 'w');
  const env = {
    ...process.env,
    ...testEnv(p.servers, p.taskQueue),
    PLATFORM_URL: p.url,
    WORKFLOW_BUNDLE_PATH: p.servers.workflowBundlePath,
    SWEEPER_ENABLED: 'false',
    LOG_LEVEL: 'info',
    ...extraEnv,
  };
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, entry, 'main.ts')], { env, stdio: ['ignore', out, out], cwd: ROOT });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await waitFor(`${entry} process ready (log: ${logFile})`, async () => {
    if (child.exitCode !== null) throw new Error(`${entry} process exited during start-up: ${readFileSync(logFile, 'utf8').slice(-2000)}`);
    return existsSync(logFile) && ready(readFileSync(logFile, 'utf8'));
  });
  return {
    child,
    logFile,
    async kill() {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

export function startWorkerProcess(p: Platform, extraEnv: Record<string, string> = {}): Promise<WorkerProcess> {
  return startEntryProcess(p, 'worker', extraEnv, (log) => log.includes('"worker started"'));
}

/** The API entry point on `port` (the same database, Temporal and task queue as `p`); ready once /healthz answers. */
export function startApiProcess(p: Platform, port: number, extraEnv: Record<string, string> = {}): Promise<WorkerProcess> {
  return startEntryProcess(p, 'api', { API_PORT: String(port), ...extraEnv }, async () =>
    fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok, () => false),
  );
}
