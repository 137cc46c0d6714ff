// The idle monitor's Temporal Schedule (SPEC-ADDENDUM A10.4: every 2 minutes), created idempotently at
// worker start like the sweepers' (worker/sweeper-schedule.ts). A slow pass is never doubled up.
import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import { workflowIds } from '../domain/vocabulary';

export const IDLE_MONITOR_INTERVAL = '2m';

export async function ensureIdleMonitorSchedule(client: Client, taskQueue: string): Promise<'created' | 'exists'> {
  try {
    await client.schedule.create({
      scheduleId: workflowIds.idleMonitor,
      spec: { intervals: [{ every: IDLE_MONITOR_INTERVAL }] },
      action: { type: 'startWorkflow', workflowType: 'idleMonitor', taskQueue, args: [{}], workflowId: 'idle-monitor-pass' },
      policies: { overlap: ScheduleOverlapPolicy.SKIP },
    });
    return 'created';
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
    return 'exists';
  }
}
