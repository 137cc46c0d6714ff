// Creates the orphan sweeper's Temporal Schedule idempotently (visible in the Temporal UI under
// Schedules) and triggers one pass at boot, as the reference did.
import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import { LIVENESS_SWEEP_INTERVAL_SECONDS } from '../activities/liveness-sweeper';
import { workflowIds } from '../domain/vocabulary';

export const SWEEP_INTERVAL = '60s';

export async function ensureSweeperSchedule(client: Client, taskQueue: string, opts: { triggerNow: boolean }): Promise<'created' | 'exists'> {
  let outcome: 'created' | 'exists' = 'created';
  try {
    await client.schedule.create({
      scheduleId: workflowIds.orphanSweep,
      spec: { intervals: [{ every: SWEEP_INTERVAL }] },
      action: { type: 'startWorkflow', workflowType: 'orphanSweep', taskQueue, args: [{}], workflowId: 'orphan-sweep' },
      // A slow pass is never doubled up; the next tick after it finishes runs normally.
      policies: { overlap: ScheduleOverlapPolicy.SKIP },
    });
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
    outcome = 'exists';
  }
  if (opts.triggerNow) await client.schedule.getHandle(workflowIds.orphanSweep).trigger(ScheduleOverlapPolicy.SKIP);
  return outcome;
}

/**
 * The liveness sweep's Schedule (A1.3: every 15 s, in every deployment mode). Its own schedule, so a
 * slow orphan pass (engine listings, EC2) never delays it; no pass at boot, the first tick is 15 s away.
 */
export async function ensureLivenessSchedule(client: Client, taskQueue: string): Promise<'created' | 'exists'> {
  try {
    await client.schedule.create({
      scheduleId: workflowIds.livenessSweep,
      spec: { intervals: [{ every: `${LIVENESS_SWEEP_INTERVAL_SECONDS}s` }] },
      action: { type: 'startWorkflow', workflowType: 'livenessSweep', taskQueue, args: [], workflowId: 'liveness-sweep' },
      policies: { overlap: ScheduleOverlapPolicy.SKIP },
    });
    return 'created';
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
    return 'exists';
  }
}
