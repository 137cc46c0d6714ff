import { createLivenessSweeper, type LivenessFinding } from './liveness-sweeper';
import { createOrphanSweeper, type OrphanSweeperDeps, type SweepReport } from './orphan-sweeper';
import type { ActivityMetrics } from './metrics-port';

export function createSweeperActivities(deps: OrphanSweeperDeps & { metrics?: ActivityMetrics }) {
  const sweeper = createOrphanSweeper(deps);
  const liveness = createLivenessSweeper(deps);
  return {
    async sweepOrphans(input: { dryRun: boolean }): Promise<SweepReport> {
      const report = await sweeper.sweep(input);
      deps.metrics?.sweepFindings('orphan', report.findings);
      return report;
    },

    /** The 15 s liveness pass (A1.3); each change is logged like the orphan sweeper's actions. */
    async sweepLiveness(): Promise<LivenessFinding[]> {
      const findings = await liveness.sweep({ dryRun: false });
      deps.metrics?.sweepFindings('liveness', findings);
      for (const f of findings) {
        deps.log.info({ sweeper: true, ...f }, 'liveness sweeper');
        await deps.store.recordActivity({ workspaceId: f.workspaceId, action: `sweeper.${f.kind}`, level: 'warn', message: `${f.reason}: ${f.action}`, details: { id: f.id } });
      }
      return findings;
    },
  };
}

export type SweeperActivities = ReturnType<typeof createSweeperActivities>;
