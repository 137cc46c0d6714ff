// HibernateWorkspace (SPEC-ADDENDUM A10.3, workflow id hibernate-<id>): claim `hibernating` (online or
// degraded, and no active task unless forced), cancel a provision/restart in flight, stop the compute
// and remove it keeping the /configs volume, then mark it `hibernated` (url '', no active task, tokens
// revoked, WORKSPACE_HIBERNATED) only if it is still `hibernating`. A stop that fails puts the row back
// as it was. Started by POST /workspaces/:id/hibernate (which waits for the result) and by the idle
// monitor; wake (POST /workspaces/:id/wake) brings it back through a provision.
import { proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { DeleteActivities } from '../activities/delete-activities';
import type { LifecycleActivities } from '../activities/lifecycle-activities';
import type { PowerActivities } from '../activities/power-activities';
import { computeActivityOptions, dbActivityOptions } from './activity-options';
import type { HibernateInput, HibernateResult } from './definitions';
import { stopWithRetry } from './stop-with-retry';

const db = proxyActivities<PowerActivities & LifecycleActivities>(dbActivityOptions);
const compute = proxyActivities<PowerActivities>(computeActivityOptions);
const operations = proxyActivities<DeleteActivities>({ ...computeActivityOptions, startToCloseTimeout: '15 minutes', heartbeatTimeout: '5 minutes' });

export async function hibernateWorkspace(input: HibernateInput): Promise<HibernateResult> {
  const { workspaceId } = input;
  const { runId, workflowId } = workflowInfo();
  const claim = await db.claimHibernate({ workspaceId, force: input.force });
  if (!claim.claimed) return { outcome: 'not_claimed', workspaceId, status: claim.status, activeTasks: claim.active_tasks };

  await operations.cancelOperations({ workspaceIds: [workspaceId], exceptWorkflowId: workflowId });
  const stop = await stopWithRetry(workspaceId);
  if (!stop.stopped) {
    await db.recordLeakSuspect({ workspaceId, operation: 'hibernate', attempts: stop.attempts });
    await db.revertHibernate({ workspaceId, previous: claim.previous });
    return { outcome: 'stop_failed', workspaceId };
  }
  await compute.removeComputeKeepVolume({ workspaceId });
  const marked = await db.markHibernated({ workspaceId, runId });
  return marked ? { outcome: 'hibernated', workspaceId } : { outcome: 'superseded', workspaceId };
}
