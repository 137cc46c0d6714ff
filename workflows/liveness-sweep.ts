// One liveness pass (A1.3), started every 15 s by the Temporal Schedule `liveness-sweeper` (see
// worker/sweeper-schedule.ts). Kept apart from the orphan sweep: it needs no container engine and
// must run four times as often. A failed pass simply fails; the schedule starts the next one.
import { proxyActivities } from '@temporalio/workflow';
import type { SweeperActivities } from '../activities/sweeper-activities';

const { sweepLiveness } = proxyActivities<SweeperActivities>({
  startToCloseTimeout: '1 minute',
  retry: { maximumAttempts: 2, initialInterval: '1 second' },
});

export async function livenessSweep() {
  return sweepLiveness();
}
