// The soak's (B7) fixed fleet and what it leaves behind: the external agents that heartbeat, the
// long-lived Docker workspaces that are restarted, the waits for delete cascades and the count of
// containers that outlived their workspace. None of this is measured; setup errors stop the stage.
import { readFileSync } from 'node:fs';
import { Client, Connection } from '@temporalio/client';
import Docker from 'dockerode';
import { WORKSPACE_ID_LABEL, workflowIds } from '../domain/vocabulary';
import { TEST_RUN_LABEL } from '../test/harness/servers';
import { waitFor } from '../test/support/wait-for';
import type { BenchContext } from './context';
import type { RouteRecorder } from './open-loop';

export interface Agent {
  id: string;
  token: string;
}

/** Runs `fn` over `items` with at most `width` at once. */
export async function inBatches<T>(items: T[], width: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]);
    }),
  );
}

function throwOnErrors(setup: RouteRecorder, what: string): void {
  const { errors, examples } = setup.totals();
  if (errors > 0) throw new Error(`B7 setup (${what}): ${errors} requests failed: ${examples.join('; ')}`);
}

/**
 * `n` external workspaces, each registered with the token its create answered (as a real agent
 * would), so that every heartbeat of the soak is an online agent's.
 */
export async function createAgents(setup: RouteRecorder, n: number, label: string): Promise<Agent[]> {
  const agents: Agent[] = [];
  await inBatches(
    Array.from({ length: n }, (_, i) => i),
    10,
    async (i) => {
      const created = await setup.call<{ id: string; auth_token: string }>('setup POST /workspaces (external)', 'POST', '/workspaces', {
        body: { name: `${label} ${i}`, runtime: 'external' },
      });
      if (!created) return;
      await setup.call('setup POST /registry/register', 'POST', '/registry/register', { body: { workspace_id: created.id }, token: created.auth_token });
      agents.push({ id: created.id, token: created.auth_token });
    },
  );
  throwOnErrors(setup, 'external agents');
  return agents;
}

/** `n` Docker workspaces, provisioned at once and waited for until online. */
export async function provisionDocker(ctx: BenchContext, setup: RouteRecorder, n: number, label: string): Promise<string[]> {
  const ids: string[] = [];
  await Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const res = await setup.call<{ workspace: { id: string } }>('setup POST /workspaces (docker)', 'POST', '/workspaces', {
        body: { name: `${label} ${i}`, compute: 'docker' },
      });
      if (res) ids.push(res.workspace.id);
    }),
  );
  throwOnErrors(setup, 'long-lived Docker workspaces');
  await waitFor(`${n} Docker workspaces online`, async () => {
    const { rows } = await ctx.pool.query<{ n: string }>(`SELECT count(*) AS n FROM workspaces WHERE id = ANY($1::uuid[]) AND status = 'online'`, [ids]);
    return Number(rows[0].n) === n;
  }, 180_000, 500);
  return ids;
}

/**
 * Waits for the delete cascades of `rootIds` to end. A DELETE answers 202 when its cascade outlasts the
 * API's wait, so its answer alone does not say that the containers are gone; the workflow's end does.
 */
export async function waitForDeletes(ctx: BenchContext, rootIds: string[]): Promise<void> {
  const connection = await Connection.connect({ address: ctx.servers.temporalAddress });
  try {
    const client = new Client({ connection, namespace: ctx.servers.temporalNamespace });
    await inBatches(rootIds, 10, async (id) => {
      await client.workflow.getHandle(workflowIds.deleteTree(id)).result();
    });
  } finally {
    await connection.close();
  }
}

/** This run's containers (any state) that carry one of `workspaceIds` as their workspace label. */
export async function containersOf(docker: Docker, runId: string, workspaceIds: ReadonlySet<string>): Promise<string[]> {
  const list = await docker.listContainers({ all: true, filters: { label: [`${TEST_RUN_LABEL}=${runId}`, WORKSPACE_ID_LABEL] } });
  return list.filter((c) => workspaceIds.has(c.Labels[WORKSPACE_ID_LABEL] ?? '')).map((c) => `${c.Names[0] ?? c.Id} (${c.State})`);
}

/** This run's volumes that carry one of `workspaceIds` as their workspace label (a delete removes them too). */
export async function volumesOf(docker: Docker, runId: string, workspaceIds: ReadonlySet<string>): Promise<string[]> {
  const { Volumes } = await docker.listVolumes({ filters: { label: [`${TEST_RUN_LABEL}=${runId}`, WORKSPACE_ID_LABEL] } });
  return (Volumes ?? []).filter((v) => workspaceIds.has(v.Labels?.[WORKSPACE_ID_LABEL] ?? '')).map((v) => v.Name);
}

const TICK_MS = 10; // USER_HZ is 100 on Linux

/** CPU time (user + system) a process has used so far, in ms. */
export function processCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * TICK_MS;
}

/**
 * The machine's CPU time so far (busy, and all, summed over cores), in ms. Other work shares these
 * cores; a minute that is slower while the machine is busier is the neighbours', not a drift of ours.
 */
export function machineCpuMs(): { busy: number; all: number } {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const all = cpu.reduce((a, b) => a + b, 0);
  return { busy: (all - cpu[3] - cpu[4]) * TICK_MS, all: all * TICK_MS };
}
