import { createLivenessSweeper, type LivenessFinding } from './liveness-sweeper';
import { createOrphanSweeper, type OrphanSweeperDeps, type SweepReport } from './orphan-sweeper';

export function createSweeperActivities(deps: OrphanSweeperDeps) {
  const sweeper = createOrphanSweeper(deps);
  const liveness = createLivenessSweeper(deps);
  return {
    async sweepOrphans(input: { dryRun: boolean }): Promise<SweepReport> {
      return sweeper.sweep(input);
    },

    /** The 15 s liveness pass (A1.3); each change is logged like the orphan sweeper's actions. */
    async sweepLiveness(): Promise<LivenessFinding[]> {
      const findings = await liveness.sweep({ dryRun: false });
      for (const f of findings) {
        deps.log.info({ sweeper: true, ...f }, 'liveness sweeper');
        await deps.store.recordActivity({ workspaceId: f.workspaceId, action: `sweeper.${f.kind}`, level: 'warn', message: `${f.reason}: ${f.action}`, details: { id: f.id } });
      }
      return findings;
    },
  };
}

export type SweeperActivities = ReturnType<typeof createSweeperActivities>;
