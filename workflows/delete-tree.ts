// DeleteWorkspaceTree (SPEC §4): mark the subtree removed first, then layouts/tokens/schedules (one
// transaction), cancel in-flight operations and wait for their compensation, stop compute (batched
// child workflows keep this history bounded for 1,000-workspace trees), remove volumes only where the
// stop succeeded, broadcast WORKSPACE_REMOVED, and optionally purge exactly the touched rows.
//
// Since BOUNDED_PAYLOADS_PATCH the touched rows carry the run's id in Postgres (workspaces.delete_run_id)
// and no payload lists the tree: the mark returns counts, compute ids come a page at a time, broadcast
// and purge select by run id, the result carries counts. A 10,000-workspace tree used to put ~800 KB
// through one activity result.
import { executeChild, patched, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { DeleteActivities } from '../activities/delete-activities';
import { computeActivityOptions, dbActivityOptions } from './activity-options';
import {
  deleteStateQuery,
  type ComputeBatchInput,
  type ComputeBatchResult,
  type DeleteTreeInput,
  type DeleteTreeResult,
  type DeleteTreeState,
  type StopFailure,
} from './definitions';
import { stopWithRetry } from './stop-with-retry';

const db = proxyActivities<DeleteActivities>(dbActivityOptions);
const compute = proxyActivities<DeleteActivities>(computeActivityOptions);
const operations = proxyActivities<DeleteActivities>({ ...computeActivityOptions, startToCloseTimeout: '15 minutes', heartbeatTimeout: '5 minutes' });

export const COMPUTE_BATCH_SIZE = 50;
const PARALLEL_BATCHES = 4;

/** Runs started before it keep replaying the id-list cascade (deleteByIdList). */
export const BOUNDED_PAYLOADS_PATCH = 'delete-tree-bounded-payloads';
/** Compute ids per page: 500 uuids are ~20 KB of activity result and ten batch children. */
export const COMPUTE_PAGE_SIZE = 500;
/** Stop failures listed in the result (and the API's answer); stopFailureCount has them all. */
export const STOP_FAILURES_REPORTED = 100;
/** Ids per releaseFromDeleteRun call, so a mass stop failure is released in bounded payloads too. */
const RELEASE_CHUNK = 500;

export async function deleteWorkspaceTree(input: DeleteTreeInput): Promise<DeleteTreeResult> {
  const state: DeleteTreeState = { phase: 'marking', total: 0, computeTotal: 0, computeDone: 0, stopFailures: 0 };
  setHandler(deleteStateQuery, () => state);
  if (patched(BOUNDED_PAYLOADS_PATCH)) return deleteByRunId(input, state);
  return deleteByIdList(input, state);
}

async function deleteByRunId(input: DeleteTreeInput, state: DeleteTreeState): Promise<DeleteTreeResult> {
  const { runId, workflowId } = workflowInfo();
  const marked = await db.markSubtreeForDelete({ rootId: input.rootId, deleteRunId: runId });
  state.total = marked.total;
  state.computeTotal = marked.computeTotal;

  // Per page: cancel the page's in-flight operations, then stop its compute (each workspace's
  // operations are cancelled before its compute is stopped, as in the id-list cascade).
  const stopFailures: StopFailure[] = [];
  let after: string | null = null;
  let batchNo = 0;
  const pageSize = input.computePageSize ?? COMPUTE_PAGE_SIZE;
  for (;;) {
    const page: string[] = await db.deleteRunComputePage({ deleteRunId: runId, after, limit: pageSize });
    if (page.length === 0) break;
    after = page[page.length - 1];
    state.phase = 'cancelling_operations';
    await operations.cancelOperations({ workspaceIds: page, exceptWorkflowId: workflowId });
    state.phase = 'stopping_compute';
    const batches: string[][] = [];
    for (let i = 0; i < page.length; i += COMPUTE_BATCH_SIZE) batches.push(page.slice(i, i + COMPUTE_BATCH_SIZE));
    for (let i = 0; i < batches.length; i += PARALLEL_BATCHES) {
      const results = await Promise.all(
        batches
          .slice(i, i + PARALLEL_BATCHES)
          .map((batch) => executeChild(deleteComputeBatch, { workflowId: `${workflowId}-compute-${runId.slice(0, 8)}-${batchNo++}`, args: [{ workspaceIds: batch }] })),
      );
      for (const r of results) {
        stopFailures.push(...r.failures);
        state.computeDone += r.stopped.length + r.failures.length;
      }
      state.stopFailures = stopFailures.length;
    }
    if (page.length < pageSize) break;
  }

  state.phase = 'broadcasting';
  await db.broadcastDeleteRun({ deleteRunId: runId });

  let purged = 0;
  if (input.purge) {
    state.phase = 'purging';
    // Rows whose compute could not be stopped leave the run (stay removed) so the sweeper can finish.
    for (let i = 0; i < stopFailures.length; i += RELEASE_CHUNK) {
      await db.releaseFromDeleteRun({ deleteRunId: runId, workspaceIds: stopFailures.slice(i, i + RELEASE_CHUNK).map((f) => f.workspace_id) });
    }
    purged = await db.purgeDeleteRun({ deleteRunId: runId });
  }
  state.phase = 'done';
  return {
    rootId: input.rootId,
    removedCount: marked.total,
    stopFailures: stopFailures.slice(0, STOP_FAILURES_REPORTED),
    stopFailureCount: stopFailures.length,
    purged,
  };
}

/** The cascade of runs started before BOUNDED_PAYLOADS_PATCH: every step carries the full id list. */
async function deleteByIdList(input: DeleteTreeInput, state: DeleteTreeState): Promise<DeleteTreeResult> {
  const { runId, workflowId } = workflowInfo();

  const touched = await db.markSubtreeRemoved({ rootId: input.rootId });
  const ids = touched.map((w) => w.id);
  const withCompute = touched.filter((w) => w.compute === 'docker' || (w.compute === 'ec2' && w.instance_id)).map((w) => w.id);
  state.total = ids.length;
  state.computeTotal = withCompute.length;

  state.phase = 'cancelling_operations';
  await operations.cancelOperations({ workspaceIds: withCompute, exceptWorkflowId: workflowId });

  state.phase = 'stopping_compute';
  const stopFailures: StopFailure[] = [];
  const batches: string[][] = [];
  for (let i = 0; i < withCompute.length; i += COMPUTE_BATCH_SIZE) batches.push(withCompute.slice(i, i + COMPUTE_BATCH_SIZE));
  for (let i = 0; i < batches.length; i += PARALLEL_BATCHES) {
    const results = await Promise.all(
      batches.slice(i, i + PARALLEL_BATCHES).map((batch, j) =>
        executeChild(deleteComputeBatch, { workflowId: `${workflowId}-compute-${runId.slice(0, 8)}-${i + j}`, args: [{ workspaceIds: batch }] }),
      ),
    );
    for (const r of results) {
      stopFailures.push(...r.failures);
      state.computeDone += r.stopped.length + r.failures.length;
    }
    state.stopFailures = stopFailures.length;
  }

  state.phase = 'broadcasting';
  await db.broadcastRemoved({ workspaceIds: ids, deleteRunId: runId });

  let purged = 0;
  if (input.purge) {
    state.phase = 'purging';
    // Rows whose compute could not be stopped stay (as removed) so the sweeper can finish the job.
    const failed = new Set(stopFailures.map((f) => f.workspace_id));
    purged = await db.purgeWorkspaces({ workspaceIds: ids.filter((id) => !failed.has(id)) });
  }
  state.phase = 'done';
  return { rootId: input.rootId, removedIds: ids, stopFailures, purged };
}

/** Stops and removes compute for up to COMPUTE_BATCH_SIZE workspaces, concurrently. */
export async function deleteComputeBatch(input: ComputeBatchInput): Promise<ComputeBatchResult> {
  const stopped: string[] = [];
  const failures: StopFailure[] = [];
  await Promise.all(
    input.workspaceIds.map(async (id) => {
      const result = await stopWithRetry(id);
      if (!result.stopped) {
        // Delete's policy: a stop failure is reported, never swallowed (a silent leak is unacceptable).
        failures.push({ workspace_id: id, error: `compute did not stop after ${result.attempts} attempts` });
        return;
      }
      await compute.removeComputeAfterStop({ workspaceId: id });
      stopped.push(id);
    }),
  );
  failures.sort((a, b) => a.workspace_id.localeCompare(b.workspace_id));
  return { stopped: stopped.sort(), failures };
}
