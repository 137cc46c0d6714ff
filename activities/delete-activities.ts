// Activities of the delete cascade. The Temporal client is needed here (not in workflow code) to wait
// for cancelled provisions/restarts to finish their compensation: workflow code can request a
// cancel of another workflow but cannot await its end.
import { Context } from '@temporalio/activity';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { EVENTS, workflowIds } from '../domain/vocabulary';
import { removeWorkspaceContainer, type ComputePorts } from './compute-ports';
import type { MarkedSubtree, WorkspaceStore } from './workspace-store';

export interface DeleteActivityDeps {
  store: WorkspaceStore;
  compute: ComputePorts;
  temporal?: Client;
}

const CANCEL_PARALLELISM = 20;

export function createDeleteActivities({ store, compute, temporal }: DeleteActivityDeps) {
  async function cancelAndAwait(workflowId: string): Promise<boolean> {
    if (!temporal) return false;
    const handle = temporal.workflow.getHandle(workflowId);
    try {
      const description = await handle.describe();
      if (description.status.name !== 'RUNNING') return false;
      await handle.cancel();
      // Waits for the run to close: its compensation (container removal) has then finished.
      await handle.result().catch(() => undefined);
      return true;
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return false;
      throw err;
    }
  }

  return {
    async markSubtreeRemoved(input: { rootId: string }) {
      return store.markSubtreeRemoved(input.rootId);
    },

    /** Marks the subtree removed as this run's rows; only the counts travel back (bounded payload). */
    async markSubtreeForDelete(input: { rootId: string; deleteRunId: string }): Promise<MarkedSubtree> {
      return store.markSubtreeForDelete(input.rootId, input.deleteRunId);
    },

    /** The next page of the run's workspaces whose compute must be stopped (ids after the cursor). */
    async deleteRunComputePage(input: { deleteRunId: string; after: string | null; limit: number }): Promise<string[]> {
      return store.deleteRunComputePage(input.deleteRunId, input.after, input.limit);
    },

    async broadcastDeleteRun(input: { deleteRunId: string }): Promise<number> {
      return store.broadcastDeleteRun(input.deleteRunId);
    },

    async releaseFromDeleteRun(input: { deleteRunId: string; workspaceIds: string[] }): Promise<void> {
      await store.releaseFromDeleteRun(input.deleteRunId, input.workspaceIds);
    },

    async purgeDeleteRun(input: { deleteRunId: string }): Promise<number> {
      return store.purgeDeleteRun(input.deleteRunId);
    },

    /** Cancels in-flight provision/restart workflows of these workspaces and waits for them to close. */
    async cancelOperations(input: { workspaceIds: string[]; exceptWorkflowId?: string }): Promise<number> {
      const ids = [...input.workspaceIds];
      let cancelled = 0;
      while (ids.length > 0) {
        const batch = ids.splice(0, CANCEL_PARALLELISM);
        const results = await Promise.all(
          batch.flatMap((id) =>
            [workflowIds.restart(id), workflowIds.provision(id)]
              .filter((wf) => wf !== input.exceptWorkflowId)
              .map((wf) => cancelAndAwait(wf)),
          ),
        );
        cancelled += results.filter(Boolean).length;
        Context.current().heartbeat(ids.length);
      }
      return cancelled;
    },

    /** Volumes are removed only where the stop succeeded; a failed stop keeps them for the sweeper. */
    async removeComputeAfterStop(input: { workspaceId: string }): Promise<void> {
      const ws = await store.getWorkspace(input.workspaceId);
      if (!ws) return;
      if (ws.compute === 'docker' && compute.docker) await removeWorkspaceContainer(store, compute.docker, ws.id, { removeVolume: true });
    },

    async broadcastRemoved(input: { workspaceIds: string[]; deleteRunId: string }): Promise<void> {
      await store.recordEvents(
        EVENTS.workspaceRemoved,
        input.workspaceIds.map((id) => ({ workspaceId: id, dedupeKey: `${input.deleteRunId}:removed:${id}` })),
      );
    },

    async purgeWorkspaces(input: { workspaceIds: string[] }): Promise<number> {
      return store.purgeWorkspaces(input.workspaceIds);
    },
  };
}

export type DeleteActivities = ReturnType<typeof createDeleteActivities>;
