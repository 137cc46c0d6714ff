// Stop with retry (SPEC §3): a first attempt plus three retries after 1 s, 2 s and 4 s durable
// timers. Cancellation interrupts a timer at once (no further sleep) and propagates; the caller
// decides what exhaustion means (restart: LEAK-SUSPECT and carry on; delete: report a stop failure).
import { isCancellation, proxyActivities, sleep } from '@temporalio/workflow';
import type { LifecycleActivities } from '../activities/lifecycle-activities';

export const STOP_BACKOFF_SECONDS = [1, 2, 4] as const;

const { stopComputeOnce } = proxyActivities<LifecycleActivities>({
  startToCloseTimeout: '90 seconds',
  // One attempt per call: the schedule above is the retry policy.
  retry: { maximumAttempts: 1 },
});

export interface StopResult {
  stopped: boolean;
  attempts: number;
}

export async function stopWithRetry(workspaceId: string): Promise<StopResult> {
  for (let attempt = 1; ; attempt++) {
    try {
      await stopComputeOnce({ workspaceId });
      return { stopped: true, attempts: attempt };
    } catch (err) {
      if (isCancellation(err)) throw err;
      if (attempt > STOP_BACKOFF_SECONDS.length) return { stopped: false, attempts: attempt };
      await sleep(STOP_BACKOFF_SECONDS[attempt - 1] * 1000);
    }
  }
}
