// ResumeTree (SPEC-ADDENDUM A10.2, workflow id resume-<rootId>): claim the root and its paused
// descendants (-> provisioning, WORKSPACE_PROVISIONING {name, tier, runtime}, one transaction), answer
// the resumeClaimed update with the count, then start each workspace's own provision workflow
// (provision-<id>: new credentials, the kept /configs volume) parents first, by depth. Provisions run
// on their own (ABANDON): resume is asynchronous like create, and each provision reports its own
// outcome on the row. Starts go through batched child workflows so the history stays bounded.
//
// Since BOUNDED_PAYLOADS_PATCH no payload lists the tree (as the delete cascade): the claim answers
// the count, ids come from Postgres a page at a time (the rows carry the run's event), the result
// carries counts and the first NOT_STARTED_REPORTED ids not started.
import {
  allHandlersFinished,
  condition,
  executeChild,
  ParentClosePolicy,
  patched,
  proxyActivities,
  setHandler,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import type { PowerActivities } from '../activities/power-activities';
import type { ResumeCursor, ResumeRunPage } from '../activities/workspace-store';
import { WorkspaceIdKey } from '../domain/search-attributes';
import { workflowIds } from '../domain/vocabulary';
import { dbActivityOptions } from './activity-options';
import { resumeClaimedUpdate, type ResumeBatchInput, type ResumeBatchResult, type ResumeTreeInput, type ResumeTreeResult } from './definitions';
import { provisionWorkspace } from './provision';

const db = proxyActivities<PowerActivities>(dbActivityOptions);

export const RESUME_BATCH_SIZE = 50;

/** Runs started before it keep replaying the id-list resume (resumeByIdList). */
export const BOUNDED_PAYLOADS_PATCH = 'resume-tree-bounded-payloads';
/** Workspaces per page: 500 uuids are ~20 KB of activity result and ten batch children. */
export const RESUME_PAGE_SIZE = 500;
/** Provisions not started listed in the result; notStartedCount has them all. */
export const NOT_STARTED_REPORTED = 100;

/** The claim's count, set once it committed; the resumeClaimed update waits for it. */
interface ClaimState {
  claimed: number | null;
}

export async function resumeTree(input: ResumeTreeInput): Promise<ResumeTreeResult> {
  const state: ClaimState = { claimed: null };
  setHandler(resumeClaimedUpdate, async () => {
    await condition(() => state.claimed !== null);
    return { count: state.claimed ?? 0 };
  });
  const result = patched(BOUNDED_PAYLOADS_PATCH) ? await resumeByRunId(input, state) : await resumeByIdList(input, state);
  await condition(allHandlersFinished);
  return result;
}

/**
 * The claim marks each row with the run's WORKSPACE_PROVISIONING event and answers the count; ids come
 * from Postgres a page at a time, parents first (depth, then id), and each page's batches run one
 * after the other, so the start order stays parents first across pages and batches.
 */
async function resumeByRunId(input: ResumeTreeInput, state: ClaimState): Promise<ResumeTreeResult> {
  const { runId, workflowId } = workflowInfo();
  const { rootId } = input;
  const pageSize = input.pageSize ?? RESUME_PAGE_SIZE;
  const total = await db.claimResumeRun({ rootId, runId });
  state.claimed = total;

  let started = 0;
  const notStarted: string[] = [];
  let notStartedCount = 0;
  let batchNo = 0;
  let after: ResumeCursor | null = null;
  while (total > 0) {
    const page: ResumeRunPage = await db.resumeRunPage({ rootId, runId, after, limit: pageSize });
    if (page.ids.length === 0) break;
    after = page.last;
    for (let i = 0; i < page.ids.length; i += RESUME_BATCH_SIZE) {
      const r = await executeChild(resumeProvisionBatch, {
        workflowId: `${workflowId}-provision-${runId.slice(0, 8)}-${batchNo++}`,
        args: [{ workspaceIds: page.ids.slice(i, i + RESUME_BATCH_SIZE) }],
      });
      started += r.started.length;
      notStartedCount += r.notStarted.length;
      notStarted.push(...r.notStarted.slice(0, NOT_STARTED_REPORTED - notStarted.length));
    }
    if (page.ids.length < pageSize) break;
  }
  return { rootId, resumedCount: total, started, notStarted, notStartedCount };
}

/** The resume of runs started before BOUNDED_PAYLOADS_PATCH: the claim answers every row, the result lists them. */
async function resumeByIdList(input: ResumeTreeInput, state: ClaimState): Promise<ResumeTreeResult> {
  const { runId, workflowId } = workflowInfo();
  // Ordered by depth, then id: parents are started before their children.
  const touched = await db.claimResume({ rootId: input.rootId, runId });
  state.claimed = touched.length;
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
