// ResumeTree (SPEC-ADDENDUM A10.2, workflow id resume-<rootId>): claim the root and its paused
// descendants (-> provisioning, WORKSPACE_PROVISIONING {name, tier, runtime}, one transaction), answer
// the resumeClaimed update with the count, then start each workspace's own provision workflow
// (provision-<id>: new credentials, the kept /configs volume) parents first, by depth. Provisions run
// on their own (ABANDON): resume is asynchronous like create, and each provision reports its own
// outcome on the row. Starts go through batched child workflows so the history stays bounded.
import {
  allHandlersFinished,
  condition,
  executeChild,
  ParentClosePolicy,
  proxyActivities,
  setHandler,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import type { PowerActivities } from '../activities/power-activities';
import { WorkspaceIdKey } from '../domain/search-attributes';
import { workflowIds } from '../domain/vocabulary';
import { dbActivityOptions } from './activity-options';
import { resumeClaimedUpdate, type ResumeBatchInput, type ResumeBatchResult, type ResumeTreeInput, type ResumeTreeResult } from './definitions';
import { provisionWorkspace } from './provision';

const db = proxyActivities<PowerActivities>(dbActivityOptions);

export const RESUME_BATCH_SIZE = 50;

export async function resumeTree(input: ResumeTreeInput): Promise<ResumeTreeResult> {
  const { runId, workflowId } = workflowInfo();
  let claimed: number | null = null;
  setHandler(resumeClaimedUpdate, async () => {
    await condition(() => claimed !== null);
    return { count: claimed ?? 0 };
  });

  // Ordered by depth, then id: parents are started before their children.
  const touched = await db.claimResume({ rootId: input.rootId, runId });
  claimed = touched.length;
  const ids = touched.map((w) => w.id);

  const started: string[] = [];
  const notStarted: string[] = [];
  // One batch after the other, so the start order stays parents first across batches.
  for (let i = 0; i < ids.length; i += RESUME_BATCH_SIZE) {
    const r = await executeChild(resumeProvisionBatch, {
      workflowId: `${workflowId}-provision-${runId.slice(0, 8)}-${i / RESUME_BATCH_SIZE}`,
      args: [{ workspaceIds: ids.slice(i, i + RESUME_BATCH_SIZE) }],
    });
    started.push(...r.started);
    notStarted.push(...r.notStarted);
  }
  await condition(allHandlersFinished);
  return { rootId: input.rootId, resumedIds: ids, started: started.length, notStarted };
}

/** Starts the provision workflow of each workspace, in the order given, without waiting for them. */
export async function resumeProvisionBatch(input: ResumeBatchInput): Promise<ResumeBatchResult> {
  const started: string[] = [];
  const notStarted: string[] = [];
  for (const workspaceId of input.workspaceIds) {
    try {
      await startChild(provisionWorkspace, {
        workflowId: workflowIds.provision(workspaceId),
        args: [{ workspaceId }],
        // The provision outlives this batch: it is the workspace's own operation from here on.
        parentClosePolicy: ParentClosePolicy.ABANDON,
        typedSearchAttributes: [{ key: WorkspaceIdKey, value: workspaceId }],
      });
      started.push(workspaceId);
    } catch {
      // A provision of it is already running (it will bring it up), or the start failed: the row stays
      // provisioning and the stuck-provision sweep fails it if nothing runs.
      notStarted.push(workspaceId);
      await db.recordPower({ workspaceId, action: 'resume.provision_not_started', level: 'warn', message: 'resume could not start a provision of this workspace' });
    }
  }
  return { started, notStarted };
}
