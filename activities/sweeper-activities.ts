import { createOrphanSweeper, type OrphanSweeperDeps, type SweepReport } from './orphan-sweeper';

export function createSweeperActivities(deps: OrphanSweeperDeps) {
  const sweeper = createOrphanSweeper(deps);
  return {
    async sweepOrphans(input: { dryRun: boolean }): Promise<SweepReport> {
      return sweeper.sweep(input);
    },
  };
}

export type SweeperActivities = ReturnType<typeof createSweeperActivities>;
