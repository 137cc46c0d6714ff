// DeleteWorkspaceTree (SPEC §4): mark the subtree removed first, then layouts/tokens/schedules (one
// transaction), cancel in-flight operations and wait for their compensation, stop compute (batched
// child workflows keep this history bounded for 1,000-workspace trees), remove volumes only where the
// stop succeeded, broadcast WORKSPACE_REMOVED, and optionally purge exactly the touched rows.
import { executeChild, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
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

export async function deleteWorkspaceTree(input: DeleteTreeInput): Promise<DeleteTreeResult> {
  const { runId, workflowId } = workflowInfo();
  const state: DeleteTreeState = { phase: 'marking', total: 0, computeTotal: 0, computeDone: 0, stopFailures: 0 };
  setHandler(deleteStateQuery, () => state);

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
