// The liveness passes (A1, A9): agents that died. The platform's own agents go `offline` after 3
// missed heartbeat intervals (at least 90 s), or as soon as the engine says their compute died (the
// container exited or is gone, the instance stopped or is gone; A1.4); external agents, which the
// platform cannot restart, wait as `awaiting_agent` after REMOTE_LIVENESS_STALE_AFTER seconds (A1.3)
// and are never `offline`. A heartbeat brings either back (record_heartbeat, migration 011). Then every
// offline agent not yet covered gets its automatic restart (auto-restarter.ts). The passes run every
// 15 s on their own schedule (no container engine needed for the heartbeat pass) and again in each
// orphan sweep, whose dry run lists them.
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Config } from '../config';
import { workflowIds } from '../domain/vocabulary';
import { createAutoRestarter, type AutoRestartFinding } from './auto-restarter';
import type { ComputePorts } from './compute-ports';
import type { MinimalLogger } from './docker-compute';
import type { DeathReason, WatchedWorkspace, WorkspaceStore } from './workspace-store';

/** A1.3: the remote-stale sweep's period. */
export const LIVENESS_SWEEP_INTERVAL_SECONDS = 15;

export type LivenessAction = 'offline' | 'would_offline' | 'awaiting_agent' | 'would_await_agent' | AutoRestartFinding['action'];

export interface LivenessFinding {
  kind: 'heartbeat' | 'engine' | 'auto_restart';
  id: string;
  workspaceId: string;
  reason: string;
  action: LivenessAction;
}

/** The platform's own agents: 3 missed heartbeat intervals, never less than 90 s. */
export function platformStaleAfterSeconds(config: Pick<Config, 'HEARTBEAT_INTERVAL_SECONDS'>): number {
  return Math.max(90, 3 * config.HEARTBEAT_INTERVAL_SECONDS);
}

/** EC2 states in which the agent cannot be running. */
const STOPPED_INSTANCE_STATES = new Set(['stopping', 'stopped', 'shutting-down', 'terminated']);

const silentLog: MinimalLogger = { info() {}, warn() {}, error() {} };

export interface LivenessSweeperDeps {
  store: WorkspaceStore;
  config: Config;
  /** The engine pass's source; without a provider of a kind, that kind is not checked. */
  compute?: ComputePorts;
  /** Tells whether a restart is running (the engine pass leaves its workspace to it) and requests automatic restarts. */
  temporal?: Client;
  log?: MinimalLogger;
}

export function createLivenessSweeper({ store, config, compute = {}, temporal, log = silentLog }: LivenessSweeperDeps) {
  const autoRestarter = createAutoRestarter({ store, config, log, temporal });

  /** Which watched agents the engine reports dead. A listing that fails is no evidence (A1.4): that kind is skipped. */
  async function deadByEngine(watched: WatchedWorkspace[]): Promise<Array<{ id: string; runId: string | null; reason: DeathReason }>> {
    const dead: Array<{ id: string; runId: string | null; reason: DeathReason }> = [];
    const docker = watched.filter((w) => w.compute === 'docker');
    if (docker.length > 0 && compute.docker) {
      try {
        const running = new Map<string, boolean>();
        for (const c of await compute.docker.listManagedContainers()) {
          if (c.workspaceId) running.set(c.workspaceId, (running.get(c.workspaceId) ?? false) || c.running);
        }
        for (const w of docker) {
          const state = running.get(w.id);
          if (state === undefined) dead.push({ id: w.id, runId: w.runId, reason: 'container_missing' });
          else if (!state) dead.push({ id: w.id, runId: w.runId, reason: 'container_exited' });
        }
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'liveness: container listing failed; engine pass skipped for Docker');
      }
    }
    const ec2 = watched.filter((w) => w.compute === 'ec2' && w.instanceId);
    if (ec2.length > 0 && compute.ec2) {
      try {
        const states = new Map((await compute.ec2.listManagedInstances()).map((i) => [i.instanceId, i.state]));
        for (const w of ec2) {
          const state = states.get(w.instanceId as string);
          if (state === undefined) dead.push({ id: w.id, runId: w.runId, reason: 'instance_missing' });
          else if (STOPPED_INSTANCE_STATES.has(state)) dead.push({ id: w.id, runId: w.runId, reason: 'instance_stopped' });
        }
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'liveness: instance listing failed; engine pass skipped for EC2');
      }
    }
    return dead;
  }

  /** A restart stops the compute itself before it replaces it: its workspace is left to it. */
  async function restartRunning(workspaceId: string): Promise<boolean> {
    if (!temporal) return false;
    try {
      const description = await temporal.workflow.getHandle(workflowIds.restart(workspaceId)).describe();
      return description.status.name === 'RUNNING';
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return false;
      return true; // Temporal unreachable: no automatic restart could run either; the next pass decides.
    }
  }

  async function enginePass(dryRun: boolean): Promise<LivenessFinding[]> {
    const watched = await store.listEngineWatched();
    if (watched.length === 0) return [];
    const dead = [];
    for (const d of await deadByEngine(watched)) if (!(await restartRunning(d.id))) dead.push(d);
    const moved = dryRun ? dead.map((d) => ({ id: d.id })) : await store.markDeadOffline(dead);
    const reasons = new Map(dead.map((d) => [d.id, d.reason]));
    return moved.map((w): LivenessFinding => ({
      kind: 'engine', id: w.id, workspaceId: w.id,
      reason: `engine reports ${reasons.get(w.id)?.replace('_', ' ')}`,
      action: dryRun ? 'would_offline' : 'offline',
    }));
  }

  return {
    async sweep(opts: { dryRun: boolean }): Promise<LivenessFinding[]> {
      const { dryRun } = opts;
      const remoteAfter = config.REMOTE_LIVENESS_STALE_AFTER;
      const platformAfter = platformStaleAfterSeconds(config);
      const external = await store.markSilentExternalAwaiting(remoteAfter, { dryRun });
      const platform = await store.markSilentPlatformOffline(platformAfter, { dryRun });
      const engine = await enginePass(dryRun);
      const restarts = dryRun ? [] : await autoRestarter.requestDue();
      return [
        ...external.map((w): LivenessFinding => ({
          kind: 'heartbeat', id: w.id, workspaceId: w.id,
          reason: `external agent silent for ${remoteAfter}s (was ${w.previousStatus})`,
          action: dryRun ? 'would_await_agent' : 'awaiting_agent',
        })),
        ...platform.map((w): LivenessFinding => ({
          kind: 'heartbeat', id: w.id, workspaceId: w.id,
          reason: `no heartbeat for ${platformAfter}s (was ${w.previousStatus})`,
          action: dryRun ? 'would_offline' : 'offline',
        })),
        ...engine,
        ...restarts.map((r): LivenessFinding => ({
          kind: 'auto_restart', id: r.workspaceId, workspaceId: r.workspaceId,
          reason: r.action === 'crash_loop_failed' ? `automatic restarts exhausted (${r.attempt})` : `automatic restart, attempt ${r.attempt} of ${config.AUTO_RESTART_MAX_ATTEMPTS}`,
          action: r.action,
        })),
      ];
    },
  };
}
