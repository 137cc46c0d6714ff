// IdleMonitor (SPEC-ADDENDUM A10.4), started every 2 minutes by the Temporal Schedule `idle-monitor`
// (worker/idle-monitor-schedule.ts): hibernates the platform-run workspaces that opted in
// (hibernation_idle_minutes > 0), are online/degraded with no active task and whose last heartbeat is
// older than their idle minutes. Each runs as the same hibernate-<id> workflow the API starts, unforced,
// so its claim checks the row again; one already running (an operator's) is left to finish.
import { executeChild, ParentClosePolicy, proxyActivities } from '@temporalio/workflow';
import type { PowerActivities } from '../activities/power-activities';
import { workflowIds } from '../domain/vocabulary';
import { dbActivityOptions } from './activity-options';
import { IDLE_MONITOR_BATCH, type IdleMonitorInput, type IdleMonitorResult } from './definitions';
import { hibernateWorkspace } from './hibernate';

const db = proxyActivities<PowerActivities>(dbActivityOptions);

/** Hibernations run this many at a time. */
const PARALLEL_HIBERNATIONS = 5;

export async function idleMonitor(input: IdleMonitorInput = {}): Promise<IdleMonitorResult> {
  const ids = await db.findIdleWorkspaces({ limit: Math.max(1, Math.min(input.limit ?? IDLE_MONITOR_BATCH, IDLE_MONITOR_BATCH)) });
  const hibernated: string[] = [];
  let skipped = 0;
  for (let i = 0; i < ids.length; i += PARALLEL_HIBERNATIONS) {
    await Promise.all(
      ids.slice(i, i + PARALLEL_HIBERNATIONS).map(async (workspaceId) => {
        try {
          const result = await executeChild(hibernateWorkspace, {
            workflowId: workflowIds.hibernate(workspaceId),
            args: [{ workspaceId, force: false }],
            // A hibernation half done must finish (or put the row back) even if this pass ends.
            parentClosePolicy: ParentClosePolicy.ABANDON,
          });
          if (result.outcome === 'hibernated') hibernated.push(workspaceId);
          else skipped++;
        } catch {
          // Already hibernating through another run, or that run failed: the next pass sees the row again.
          skipped++;
        }
      }),
    );
  }
  return { candidates: ids.length, hibernated: hibernated.sort(), skipped };
}
