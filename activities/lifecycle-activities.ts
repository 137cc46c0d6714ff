// Compute stop/remove and bookkeeping activities shared by the restart and delete workflows. Each
// single stop attempt is one activity call: the retry schedule lives in workflow code (durable
// timers), so it is visible in history and cancellation can interrupt it between attempts.
import type { Logger } from 'pino';
import { ApplicationFailure } from '@temporalio/activity';
import { ComputeError, FAILURE_TYPES } from '../domain/errors';
import { EVENTS } from '../domain/vocabulary';
import { portRequirer, removeWorkspaceContainer, type ComputePorts } from './compute-ports';
import type { WorkspaceStore } from './workspace-store';

export interface LifecycleActivityDeps {
  store: WorkspaceStore;
  compute: ComputePorts;
  log: Logger;
}

export type StopOutcome = 'stopped' | 'not_found' | 'no_compute';

export function createLifecycleActivities({ store, compute, log }: LifecycleActivityDeps) {
  const requirePort = portRequirer(compute);
  return {
    /** One stop attempt. "No such container"/"removal in progress" are success (the adapter maps them). */
    async stopComputeOnce(input: { workspaceId: string }): Promise<StopOutcome> {
      const ws = await store.getWorkspace(input.workspaceId);
      if (!ws) throw ApplicationFailure.nonRetryable('workspace not found', FAILURE_TYPES.workspaceNotFound);
      try {
        if (ws.compute === 'docker') {
          return await requirePort('docker').stopContainer(ws.id, { timeoutSeconds: 10 });
        }
        if (ws.compute === 'ec2' && ws.instance_id) {
          const outcome = await requirePort('ec2').terminateInstance(ws.instance_id);
          return outcome === 'terminated' ? 'stopped' : 'not_found';
        }
        return 'no_compute';
      } catch (err) {
        // Keep the engine's words out of workflow history and the UI; the log has them.
        if (err instanceof ComputeError) {
          log.warn({ workspaceId: ws.id, kind: err.kind, err: err.message }, 'stop attempt failed');
          throw ApplicationFailure.create({ message: `stop failed (${err.kind})`, type: 'StopFailed' });
        }
        throw err;
      }
    },

    /** Removes the container (and its config volume when asked). Idempotent. */
    async removeContainer(input: { workspaceId: string; removeVolume: boolean }): Promise<void> {
      const ws = await store.getWorkspace(input.workspaceId);
      if (!ws || ws.compute !== 'docker' || !compute.docker) return;
      await removeWorkspaceContainer(store, compute.docker, ws.id, { removeVolume: input.removeVolume });
    },

    /** SPEC: restart gives up on the stop and records this so an orphan reconciler can correlate. */
    async recordLeakSuspect(input: { workspaceId: string; operation: string; attempts: number }): Promise<void> {
      const ws = await store.getWorkspace(input.workspaceId);
      const record = {
        event: 'LEAK-SUSPECT',
        workspaceId: input.workspaceId,
        operation: input.operation,
        attempts: input.attempts,
        containerName: ws?.container_name ?? null,
        instanceId: ws?.instance_id ?? null,
      };
      log.error(record, 'LEAK-SUSPECT');
      await store.recordActivity({
        workspaceId: input.workspaceId,
        action: 'LEAK-SUSPECT',
        level: 'error',
        message: `stop failed after ${input.attempts} attempts during ${input.operation}; compute may be orphaned`,
        details: record,
      });
    },

    async recordLifecycle(input: { workspaceId: string; action: string; message: string; level?: 'info' | 'warn' | 'error'; dedupeKey?: string }): Promise<void> {
      await store.recordActivity({ workspaceId: input.workspaceId, action: input.action, level: input.level ?? 'info', message: input.message, dedupeKey: input.dedupeKey });
    },

    async emitRestarted(input: { workspaceId: string; runId: string; cycle: number }): Promise<void> {
      await store.recordEvent(EVENTS.workspaceRestarted, {
        workspaceId: input.workspaceId,
        payload: { cycle: input.cycle },
        dedupeKey: `${input.runId}:restarted:${input.cycle}`,
      });
    },
  };
}

export type LifecycleActivities = ReturnType<typeof createLifecycleActivities>;
