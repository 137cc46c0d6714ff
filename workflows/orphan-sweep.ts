// One sweep pass, started every 60 s by the Temporal Schedule `orphan-sweeper` (see
// worker/sweeper-schedule.ts). A crashed pass simply fails; the schedule starts the next one.
import { proxyActivities } from '@temporalio/workflow';
import type { SweeperActivities } from '../activities/sweeper-activities';

const { sweepOrphans } = proxyActivities<SweeperActivities>({
  startToCloseTimeout: '5 minutes',
  retry: { maximumAttempts: 3, initialInterval: '2 seconds' },
});

export async function orphanSweep(input: { dryRun?: boolean } = {}) {
  return sweepOrphans({ dryRun: input.dryRun ?? false });
}
