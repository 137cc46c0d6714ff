// Jest global teardown: removes every container and volume this run created (by its run label, which
// covers the platform's `ws-*` workspaces as the harness passes it in DOCKER_EXTRA_LABELS), stops the
// servers, drops the run's database. Every step runs even if an earlier one failed; what failed is
// reported at the end, never thrown.
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import Docker from 'dockerode';
import { Client } from 'pg';
import { adminDatabaseUrl } from '../../db/migrate';
import { killProcess } from './processes';
import { readStateFile, STATE_ENV, TEST_RUN_LABEL, type TestServers } from './servers';

/** Removes containers and volumes with the label through the `podman` CLI (no API service needed). */
function podmanCliRemove(label: string): void {
  const run = (args: string[]) => {
    const r = spawnSync('podman', args, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`podman ${args.join(' ')}: ${(r.stderr || r.error?.message || '').trim()}`);
    return r.stdout.split('\n').filter(Boolean);
  };
  const containers = run(['ps', '-aq', '--filter', `label=${label}`]);
  if (containers.length) run(['rm', '-f', '-t', '0', ...containers]);
  const volumes = run(['volume', 'ls', '-q', '--filter', `label=${label}`]);
  if (volumes.length) run(['volume', 'rm', '-f', ...volumes]);
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
  const docker = new Docker({ socketPath: state.dockerSocket });
  const apiUp = existsSync(state.dockerSocket) && (await docker.ping().then(() => true, () => false));
  if (apiUp) {
    await step('remove containers', async () => {
      const containers = await docker.listContainers({ all: true, filters: { label: [label] } });
      const failed: string[] = [];
      await Promise.all(
        containers.map((c) =>
          docker
            .getContainer(c.Id)
            .remove({ force: true, v: true })
            .catch((err: { statusCode?: number; message: string }) => {
              if (err.statusCode !== 404) failed.push(`${c.Names?.[0] ?? c.Id}: ${err.message}`);
            }),
        ),
      );
      if (failed.length) throw new Error(failed.join('; '));
    });
    await step('remove volumes', async () => {
      const { Volumes } = await docker.listVolumes({ filters: { label: [label] } });
      const failed: string[] = [];
      await Promise.all(
        (Volumes ?? []).map((v) =>
          docker
            .getVolume(v.Name)
            .remove({ force: true })
            .catch((err: { statusCode?: number; message: string }) => {
              if (err.statusCode !== 404) failed.push(`${v.Name}: ${err.message}`);
            }),
        ),
      );
      if (failed.length) throw new Error(failed.join('; '));
    });
  } else {
    // The run's API service is gone (a crashed run, or setup failed before it came up).
    await step('remove containers and volumes (podman CLI)', async () => podmanCliRemove(label));
  }
  for (const [name, pid] of Object.entries(state.pids ?? {})) await step(`stop ${name} (pid ${pid})`, () => killProcess(pid));
  await step('drop database', async () => {
    const db = new URL(state.databaseUrl).pathname.slice(1);
    if (!/^molecule_test_[0-9a-f]+$/.test(db)) throw new Error(`refusing to drop ${db}: not a test database`);
    const admin = new Client({ connectionString: adminDatabaseUrl(state.databaseUrl) });
    await admin.connect();
    try {
      // WITH (FORCE) terminates the remaining connections (workers, pools a test forgot to close).
      await admin.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
    } finally {
      await admin.end();
    }
  });
  rmSync(state.dockerSocket, { force: true });
  rmSync(state.workflowBundlePath, { force: true });
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
