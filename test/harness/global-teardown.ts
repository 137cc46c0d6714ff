// Jest global teardown: removes every container and volume this run created (by its run label),
// stops the servers, drops the run's database. Every step runs even if an earlier one failed.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import Docker from 'dockerode';
import { Client } from 'pg';
import { killProcess } from './processes';
import { STATE_ENV, TEST_RUN_LABEL, type TestServers } from './servers';

export async function cleanupRun(state: TestServers): Promise<string[]> {
  const problems: string[] = [];
  const step = async (name: string, fn: () => Promise<unknown>) => {
    try {
      await fn();
    } catch (err) {
      problems.push(`${name}: ${(err as Error).message}`);
    }
  };
  const docker = new Docker({ socketPath: state.dockerSocket });
  const label = `${TEST_RUN_LABEL}=${state.runId}`;
  await step('remove containers', async () => {
    const containers = await docker.listContainers({ all: true, filters: { label: [label] } });
    await Promise.all(containers.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
  });
  await step('remove volumes', async () => {
    const { Volumes } = await docker.listVolumes({ filters: { label: [label] } });
    await Promise.all((Volumes ?? []).map((v) => docker.getVolume(v.Name).remove().catch(() => undefined)));
  });
  for (const [name, pid] of Object.entries(state.pids ?? {})) await step(`stop ${name}`, () => killProcess(pid));
  await step('drop database', async () => {
    const url = new URL(state.databaseUrl);
    const db = url.pathname.slice(1);
    url.pathname = '/postgres';
    const admin = new Client({ connectionString: url.toString() });
    await admin.connect();
    try {
      if (/^molecule_test_[0-9a-f]+$/.test(db)) await admin.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
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
  const state = JSON.parse(readFileSync(stateFile, 'utf8')) as TestServers;
  const problems = await cleanupRun(state);
  rmSync(stateFile, { force: true });
  if (problems.length > 0) console.error(`test teardown could not finish:\n  ${problems.join('\n  ')}`);
}
