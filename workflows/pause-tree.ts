// PauseTree (SPEC-ADDENDUM A10.1, workflow id pause-<rootId>), modelled on the delete cascade: claim
// first (the subtree's rows become `paused` with their tokens revoked and a WORKSPACE_PAUSED each, in
// one transaction), then cancel in-flight provisions/restarts of those workspaces and wait for their
// compensation, then stop compute in batched child workflows (bounded history for large trees) and
// remove the containers but keep their /configs volumes. Rows, ids and volumes stay. The API learns
// the count through the pauseClaimed update, answered as soon as the claim has committed.
import { allHandlersFinished, condition, executeChild, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { DeleteActivities } from '../activities/delete-activities';
import type { LifecycleActivities } from '../activities/lifecycle-activities';
import type { PowerActivities } from '../activities/power-activities';
import { computeActivityOptions, dbActivityOptions } from './activity-options';
import {
  pauseClaimedUpdate,
  type PauseBatchInput,
  type PauseBatchResult,
  type PauseTreeInput,
  type PauseTreeResult,
  type StopFailure,
} from './definitions';
import { stopWithRetry } from './stop-with-retry';

const db = proxyActivities<PowerActivities & LifecycleActivities>(dbActivityOptions);
const compute = proxyActivities<PowerActivities>(computeActivityOptions);
const operations = proxyActivities<DeleteActivities>({ ...computeActivityOptions, startToCloseTimeout: '15 minutes', heartbeatTimeout: '5 minutes' });

export const PAUSE_BATCH_SIZE = 50;
const PARALLEL_BATCHES = 4;

export async function pauseTree(input: PauseTreeInput): Promise<PauseTreeResult> {
  const { runId, workflowId } = workflowInfo();
  let claimed: number | null = null;
  setHandler(pauseClaimedUpdate, async () => {
    await condition(() => claimed !== null);
    return { count: claimed ?? 0 };
  });

  const touched = await db.claimPause({ rootId: input.rootId, runId });
  claimed = touched.length;
  const ids = touched.map((w) => w.id);
  const withCompute = touched.filter((w) => w.compute === 'docker' || (w.compute === 'ec2' && w.instance_id)).map((w) => w.id);

  await operations.cancelOperations({ workspaceIds: ids, exceptWorkflowId: workflowId });

  const stopFailures: StopFailure[] = [];
  const batches: string[][] = [];
  for (let i = 0; i < withCompute.length; i += PAUSE_BATCH_SIZE) batches.push(withCompute.slice(i, i + PAUSE_BATCH_SIZE));
  for (let i = 0; i < batches.length; i += PARALLEL_BATCHES) {
    const results = await Promise.all(
      batches.slice(i, i + PARALLEL_BATCHES).map((batch, j) =>
        executeChild(pauseComputeBatch, { workflowId: `${workflowId}-compute-${runId.slice(0, 8)}-${i + j}`, args: [{ workspaceIds: batch }] }),
      ),
    );
    for (const r of results) stopFailures.push(...r.failures);
  }
  // An update that arrived during the run is answered before the workflow completes.
  await condition(allHandlersFinished);
  return { rootId: input.rootId, pausedIds: ids, stopFailures };
}

/** Stops and removes (volume kept) the compute of up to PAUSE_BATCH_SIZE paused workspaces, concurrently. */
export async function pauseComputeBatch(input: PauseBatchInput): Promise<PauseBatchResult> {
  const stopped: string[] = [];
  const failures: StopFailure[] = [];
  await Promise.all(
    input.workspaceIds.map(async (id) => {
      // A resume that took the workspace since the claim owns its compute now.
      if (!(await db.isPaused({ workspaceId: id }))) return;
      const result = await stopWithRetry(id);
      if (!result.stopped) {
        // The row stays paused; the orphan sweeper does not touch a paused workspace's container, so
        // the suspect is recorded for an operator (as a restart does).
        await db.recordLeakSuspect({ workspaceId: id, operation: 'pause', attempts: result.attempts });
        failures.push({ workspace_id: id, error: `compute did not stop after ${result.attempts} attempts` });
        return;
      }
      await compute.removeComputeKeepVolume({ workspaceId: id });
      stopped.push(id);
    }),
  );
  failures.sort((a, b) => a.workspace_id.localeCompare(b.workspace_id));
  return { stopped: stopped.sort(), failures };
}
