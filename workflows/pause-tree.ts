// PauseTree (SPEC-ADDENDUM A10.1, workflow id pause-<rootId>), modelled on the delete cascade: claim
// first (the subtree's rows become `paused` with their tokens revoked and a WORKSPACE_PAUSED each, in
// one transaction), then cancel in-flight provisions/restarts of those workspaces and wait for their
// compensation, then stop compute in batched child workflows (bounded history for large trees) and
// remove the containers but keep their /configs volumes. Rows, ids and volumes stay. The API learns
// the count through the pauseClaimed update, answered as soon as the claim has committed.
//
// Since BOUNDED_PAYLOADS_PATCH no payload lists the tree (as the delete cascade): the claim answers
// counts, ids come from Postgres a page at a time (the rows carry the run's WORKSPACE_PAUSED event),
// the result carries counts. A 10,000-workspace tree put ~1 MB through the claim's result.
import { allHandlersFinished, condition, executeChild, patched, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
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
import { STOP_FAILURES_REPORTED } from './delete-tree';
import { stopWithRetry } from './stop-with-retry';

const db = proxyActivities<PowerActivities & LifecycleActivities>(dbActivityOptions);
const compute = proxyActivities<PowerActivities>(computeActivityOptions);
const operations = proxyActivities<DeleteActivities>({ ...computeActivityOptions, startToCloseTimeout: '15 minutes', heartbeatTimeout: '5 minutes' });

export const PAUSE_BATCH_SIZE = 50;
const PARALLEL_BATCHES = 4;

/** Runs started before it keep replaying the id-list pause (pauseByIdList). */
export const BOUNDED_PAYLOADS_PATCH = 'pause-tree-bounded-payloads';
/** Ids per page: 500 uuids are ~20 KB of activity result, one cancelOperations and ten batch children. */
export const PAUSE_PAGE_SIZE = 500;

/** The claim's count, set once it committed; the pauseClaimed update waits for it. */
interface ClaimState {
  claimed: number | null;
}

export async function pauseTree(input: PauseTreeInput): Promise<PauseTreeResult> {
  const state: ClaimState = { claimed: null };
  setHandler(pauseClaimedUpdate, async () => {
    await condition(() => state.claimed !== null);
    return { count: state.claimed ?? 0 };
  });
  const result = patched(BOUNDED_PAYLOADS_PATCH) ? await pauseByRunId(input, state) : await pauseByIdList(input, state);
  // An update that arrived during the run is answered before the workflow completes.
  await condition(allHandlersFinished);
  return result;
}

/**
 * The claim marks each row with the run's WORKSPACE_PAUSED event and answers counts; ids come from
 * Postgres a page at a time. Two passes keep the id-list order: every claimed workspace's in-flight
 * operations are cancelled (their compensation awaited) before any compute is stopped.
 */
async function pauseByRunId(input: PauseTreeInput, state: ClaimState): Promise<PauseTreeResult> {
  const { runId, workflowId } = workflowInfo();
  const { rootId } = input;
  const pageSize = input.pageSize ?? PAUSE_PAGE_SIZE;
  const claim = await db.claimPauseRun({ rootId, runId });
  state.claimed = claim.total;

  if (claim.total > 0) {
    await forEachPage(
      (after) => db.pauseRunPage({ rootId, runId, after, limit: pageSize, computeOnly: false }),
      pageSize,
      async (page) => {
        await operations.cancelOperations({ workspaceIds: page, exceptWorkflowId: workflowId });
      },
    );
  }

  const stopFailures: StopFailure[] = [];
  let batchNo = 0;
  if (claim.computeTotal > 0) {
    await forEachPage(
      (after) => db.pauseRunPage({ rootId, runId, after, limit: pageSize, computeOnly: true }),
      pageSize,
      async (page) => {
        const batches: string[][] = [];
        for (let i = 0; i < page.length; i += PAUSE_BATCH_SIZE) batches.push(page.slice(i, i + PAUSE_BATCH_SIZE));
        for (let i = 0; i < batches.length; i += PARALLEL_BATCHES) {
          const results = await Promise.all(
            batches
              .slice(i, i + PARALLEL_BATCHES)
              .map((batch) => executeChild(pauseComputeBatch, { workflowId: `${workflowId}-compute-${runId.slice(0, 8)}-${batchNo++}`, args: [{ workspaceIds: batch }] })),
          );
          for (const r of results) stopFailures.push(...r.failures);
        }
      },
    );
  }
  return { rootId, pausedCount: claim.total, stopFailures: stopFailures.slice(0, STOP_FAILURES_REPORTED), stopFailureCount: stopFailures.length };
}

/** Reads pages of ids after a cursor (the last id of the page before) until a short page, one at a time. */
async function forEachPage(read: (after: string | null) => Promise<string[]>, pageSize: number, each: (page: string[]) => Promise<void>): Promise<void> {
  let after: string | null = null;
  for (;;) {
    const page = await read(after);
    if (page.length === 0) return;
    after = page[page.length - 1];
    await each(page);
    if (page.length < pageSize) return;
  }
}

/** The pause of runs started before BOUNDED_PAYLOADS_PATCH: the claim answers every row, every step carries the ids. */
async function pauseByIdList(input: PauseTreeInput, state: ClaimState): Promise<PauseTreeResult> {
  const { runId, workflowId } = workflowInfo();
  const touched = await db.claimPause({ rootId: input.rootId, runId });
  state.claimed = touched.length;
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
