// Jest global teardown: removes every container and volume this run created (by its run label, which
// covers the platform's `ws-*` workspaces as the harness passes it in DOCKER_EXTRA_LABELS), stops the
// servers, drops the run's database. Every step runs even if an earlier one failed; what failed is
// reported at the end, never thrown.
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { adminDatabaseUrl } from '../../db/migrate';
import { killProcess } from './processes';
import { readStateFile, RUN_DIR, STATE_ENV, TEST_RUN_LABEL, type TestServers } from './servers';

/**
 * Runs the `podman` CLI and returns its output lines. The CLI, not the run's API service, so cleanup
 * works the same whether that service is up, crashed, or never came up (setup failed early).
 */
function podman(args: string[]): string[] {
  const r = spawnSync('podman', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`podman ${args.join(' ')}: ${(r.stderr || r.error?.message || '').trim()}`);
  return r.stdout.split('\n').filter(Boolean);
}

/**
 * Removes every container of the run (by its run label, which the platform's `ws-*` containers carry
 * too). -f stops running ones and reads an already-missing one as done; -t 0 kills at once; -v also
 * removes anonymous volumes, which carry no label to find them by.
 */
export function removeRunContainers(runId: string): void {
  const containers = podman(['ps', '-aq', '--filter', `label=${TEST_RUN_LABEL}=${runId}`]);
  if (containers.length) podman(['rm', '-f', '-v', '-t', '0', ...containers]);
}

export async function cleanupRun(state: TestServers): Promise<string[]> {
  const problems: string[] = [];
  const step = async (name: string, fn: () => Promise<unknown>) => {
    try {
      await fn();
    } catch (err) {
      problems.push(`${name}: ${(err as Error).message}`);
    }
  };
  const label = `${TEST_RUN_LABEL}=${state.runId}`;
  await step('remove containers', async () => removeRunContainers(state.runId));
  await step('remove volumes', async () => {
    const volumes = podman(['volume', 'ls', '-q', '--filter', `label=${label}`]);
    if (volumes.length) podman(['volume', 'rm', '-f', ...volumes]);
  });
  for (const [name, pid] of Object.entries(state.pids ?? {})) await step(`stop ${name} (pid ${pid})`, () => killProcess(pid));
  await step('drop databases', async () => {
    const db = new URL(state.databaseUrl).pathname.slice(1);
    if (!/^molecule_test_[0-9a-f]+$/.test(db)) throw new Error(`refusing to drop ${db}: not a test database`);
    const admin = new Client({ connectionString: adminDatabaseUrl(state.databaseUrl) });
    await admin.connect();
    try {
      // The run's database and those a suite made for itself (testDatabase in support/platform.ts).
      const { rows } = await admin.query<{ datname: string }>('SELECT datname FROM pg_database WHERE datname = $1 OR datname LIKE $2', [db, `${db}\\_%`]);
      // WITH (FORCE) terminates the remaining connections (workers, pools a test forgot to close).
      for (const { datname } of rows) {
        if (/^molecule_test_[0-9a-f]+(_[a-z0-9]+)?$/.test(datname)) await admin.query(`DROP DATABASE IF EXISTS ${datname} WITH (FORCE)`);
      }
    } finally {
      await admin.end();
    }
  });
  rmSync(state.dockerSocket, { force: true });
  rmSync(state.workflowBundlePath, { force: true });
  // What test/integration/dist-build.test.ts built, if it died before its afterAll.
  rmSync(join(RUN_DIR, `dist-${state.runId}`), { recursive: true, force: true });
  return problems;
}

export default async function globalTeardown(): Promise<void> {
  const stateFile = process.env[STATE_ENV];
  if (!stateFile || !existsSync(stateFile)) return;
  let state: TestServers;
  try {
    state = readStateFile(stateFile);
  } catch (err) {
    console.error(`test teardown: cannot read ${stateFile}: ${(err as Error).message}`);
    return;
  }
  const problems = await cleanupRun(state);
  rmSync(stateFile, { force: true });
  if (problems.length > 0) console.error(`test teardown could not finish:\n  ${problems.join('\n  ')}`);
}
