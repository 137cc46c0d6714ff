// Activities of pause, resume, hibernation and the idle monitor (SPEC-ADDENDUM A10). The claims are
// store/power.ts transactions; compute is stopped with the lifecycle activities' stopComputeOnce (the
// retry schedule is workflow code) and removed here, keeping the /configs volume: a paused or
// hibernated workspace comes back with its agent's files. Cancelling in-flight operations reuses the
// delete cascade's cancelOperations.
import { removeWorkspaceContainer, type ComputePorts } from './compute-ports';
import type { ClaimedWorkspace, HibernateClaim, PauseRunCount, ResumeCursor, ResumeRunPage, WorkspaceStore } from './workspace-store';

export interface PowerActivityDeps {
  store: WorkspaceStore;
  compute: ComputePorts;
}

export function createPowerActivities({ store, compute }: PowerActivityDeps) {
  return {
    async claimPause(input: { rootId: string; runId: string }): Promise<ClaimedWorkspace[]> {
      return store.claimPause(input.rootId, input.runId);
    },

    async claimResume(input: { rootId: string; runId: string }): Promise<ClaimedWorkspace[]> {
      return store.claimResume(input.rootId, input.runId);
    },

    /** The pause claim answering counts only: the rows carry the run's event, ids stay in Postgres. */
    async claimPauseRun(input: { rootId: string; runId: string }): Promise<PauseRunCount> {
      return store.claimPauseRun(input.rootId, input.runId);
    },

    /** The next page of the pause run's rows (all of them, or those whose compute must stop). */
    async pauseRunPage(input: { rootId: string; runId: string; after: string | null; limit: number; computeOnly: boolean }): Promise<string[]> {
      return store.pauseRunPage(input.rootId, input.runId, input.after, input.limit, input.computeOnly);
    },

    /** The resume claim answering its count only. */
    async claimResumeRun(input: { rootId: string; runId: string }): Promise<number> {
      return store.claimResumeRun(input.rootId, input.runId);
    },

    /** The next page of the resume run's rows, parents first. */
    async resumeRunPage(input: { rootId: string; runId: string; after: ResumeCursor | null; limit: number }): Promise<ResumeRunPage> {
      return store.resumeRunPage(input.rootId, input.runId, input.after, input.limit);
    },

    /**
     * Removes the stopped compute of a paused or hibernating workspace and keeps its config volume.
     * Docker: the container goes (a new provision creates a new one on the same volume). EC2: the stop
     * terminated the instance, as a restart does; the row forgets it, the next provision launches one.
     * A row that is no longer paused/hibernating (a resume or wake took it meanwhile) is left alone.
     */
    async removeComputeKeepVolume(input: { workspaceId: string }): Promise<'removed' | 'skipped'> {
      const ws = await store.getWorkspace(input.workspaceId);
      if (!ws || (ws.status !== 'paused' && ws.status !== 'hibernating')) return 'skipped';
      if (ws.compute === 'docker' && compute.docker) await removeWorkspaceContainer(store, compute.docker, ws.id, { removeVolume: false });
      if (ws.compute === 'ec2' && ws.instance_id) await store.setComputeRefs(ws.id, { instanceId: null });
      return 'removed';
    },

    /** Whether the workspace is still paused: a pause's batch stops only those (a resume may have taken one). */
    async isPaused(input: { workspaceId: string }): Promise<boolean> {
      return (await store.getWorkspace(input.workspaceId))?.status === 'paused';
    },

    async claimHibernate(input: { workspaceId: string; force: boolean }): Promise<HibernateClaim> {
      return store.claimHibernate(input.workspaceId, input.force);
    },

    async revertHibernate(input: { workspaceId: string; previous: 'online' | 'degraded' }): Promise<boolean> {
      return store.revertHibernate(input.workspaceId, input.previous);
    },

    async markHibernated(input: { workspaceId: string; runId: string }): Promise<boolean> {
      return store.markHibernated(input.workspaceId, input.runId);
    },

    async findIdleWorkspaces(input: { limit: number }): Promise<string[]> {
      return store.idleWorkspaces(input.limit);
    },

    async recordPower(input: { workspaceId: string; action: string; message: string; level?: 'info' | 'warn' | 'error'; dedupeKey?: string }): Promise<void> {
      await store.recordActivity({ workspaceId: input.workspaceId, action: input.action, level: input.level ?? 'info', message: input.message, dedupeKey: input.dedupeKey });
    },
  };
}

export type PowerActivities = ReturnType<typeof createPowerActivities>;
