// ImportOrg (SPEC §5). Rows are created parent-first, one activity per tree level (so a 1,000-workspace
// tree costs a handful of history events); only workspaces that need compute get a child provision
// workflow, with bounded concurrency. Reconcile runs after an error-free loop. org.import.completed is
// recorded in a non-cancellable finally, so it always pairs with org.import.started.
//
// Item isolation: what happens to one item (a restart supersedes its provision, a delete removes it)
// changes that item's outcome only. Only the import's own cancellation (POST /org/imports/:id/cancel)
// stops the import, and then it waits for every in-flight provision to finish its compensation.
import {
  ApplicationFailure,
  CancellationScope,
  CancelledFailure,
  ParentClosePolicy,
  executeChild,
  isCancellation,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { ImportActivities } from '../activities/import-activities';
import { WorkspaceIdKey, WorkspaceNameKey } from '../domain/search-attributes';
import { workspaceNameAttribute, workspaceSummary, type WorkspaceLabel } from '../domain/workflow-summary';
import { workflowIds, type ImportItemOutcome } from '../domain/vocabulary';
import { dbActivityOptions, dbLocalActivityOptions } from './activity-options';
import { deleteWorkspaceTree } from './delete-tree';
import { importProgressQuery, removedCountOf, type ImportOrgInput, type ImportOrgResult, type ImportProgress } from './definitions';
import { provisionWorkspace } from './provision';

const db = proxyActivities<ImportActivities>(dbActivityOptions);
const dbLocal = proxyLocalActivities<ImportActivities>(dbLocalActivityOptions);

export const DEFAULT_PROVISION_CONCURRENCY = 8;

/**
 * Runs started before item isolation keep replaying the old loop: any cancellation aborted the import,
 * reconcile ran whatever the loop's failures, and a cancelled import ended `failed`.
 */
export const ITEM_ISOLATION_PATCH = 'org-import-item-isolation';

type Item = { key: string; workspaceId: string; workspace?: WorkspaceLabel };
type ItemResult = { key: string; outcome: ImportItemOutcome; error?: string };

export async function importOrg(input: ImportOrgInput): Promise<ImportOrgResult> {
  const isolated = patched(ITEM_ISOLATION_PATCH);
  const started = Date.now(); // workflow time: deterministic on replay
  const progress: ImportProgress = { phase: 'starting', total: 0, created: 0, skipped: 0, provisioned: 0, failed: 0, reconcileRemoved: 0, toProvision: 0 };
  if (isolated) Object.assign(progress, { superseded: 0, removed: 0 });
  setHandler(importProgressQuery, () => progress);
  let error: string | null = null;
  let mode: 'merge' | 'reconcile' = 'merge';
  let cancelled = false;
  const toProvision: Item[] = [];
  const finished = new Map<string, ItemResult>();
  let outcomesRecorded = false;
  try {
    const plan = await db.beginImport({ importId: input.importId });
    mode = plan.mode;
    progress.total = plan.total;

    progress.phase = 'creating';
    for (let depth = 0; depth <= plan.maxDepth; depth++) {
      const level = await db.createImportLevel({ importId: input.importId, depth });
      progress.created += level.created;
      progress.skipped += level.existing + level.notSpawned + (level.skippedProvisioning ?? 0);
      toProvision.push(...level.toProvision);
    }
    progress.toProvision = toProvision.length;

    progress.phase = 'provisioning';
    const limit = input.provisionConcurrency ?? DEFAULT_PROVISION_CONCURRENCY;
    if (isolated) await provisionIsolated(toProvision, limit, progress, finished);
    else for (const r of await provisionAll(toProvision, limit, progress)) finished.set(r.key, r);
    await db.recordItemOutcomes({ importId: input.importId, outcomes: sortedOutcomes(finished) });
    outcomesRecorded = true;

    // A13.3: reconcile only after an error-free loop (a failed item's subtree is not known to be gone).
    if (mode === 'reconcile' && (!isolated || progress.failed === 0)) {
      progress.phase = 'reconciling';
      for (const rootId of await db.findReconcileTargets({ importId: input.importId })) {
        const remove = () =>
          executeChild(deleteWorkspaceTree, {
            workflowId: `${workflowIds.deleteTree(rootId)}-reconcile-${input.importId.slice(0, 8)}`,
            args: [{ rootId, purge: false }],
          });
        // A cancel of the import lets a started delete finish (half a cascade would leave marked rows
        // with running compute); the next target's delete is then not started.
        const removed = isolated ? await CancellationScope.nonCancellable(remove) : await remove();
        progress.reconcileRemoved += removedCountOf(removed);
      }
    }
    // A cancel that came while the last delete ran still ends the import `cancelled`.
    if (isolated && CancellationScope.current().consideredCancelled) throw new CancelledFailure('import cancelled');
    progress.phase = progress.failed > 0 ? 'failed' : 'completed';
  } catch (err) {
    const ownCancellation = isCancellation(err) && CancellationScope.current().consideredCancelled;
    cancelled = isolated && ownCancellation;
    progress.phase = cancelled ? 'cancelled' : 'failed';
    error =
      isCancellation(err) && (ownCancellation || !isolated)
        ? 'import cancelled'
        : isCancellation(err)
          ? 'a step of the import was cancelled by another operation'
          : err instanceof ApplicationFailure
            ? err.message
            : 'import failed; see the workflow history';
    // Only the import's own cancellation ends its workflow as cancelled (runs before isolation: any).
    if (isCancellation(err) && (ownCancellation || !isolated)) throw err;
  } finally {
    await CancellationScope.nonCancellable(async () => {
      if (cancelled && !outcomesRecorded) {
        await db.recordItemOutcomes({ importId: input.importId, outcomes: sortedOutcomes(finished) });
        const rest = toProvision.filter((i) => !finished.has(i.key));
        await db.recordCancelledItems({
          importId: input.importId,
          keys: rest.map((i) => i.key),
          unstartedWorkspaceIds: rest.map((i) => i.workspaceId),
        });
      }
      await db.completeImport({
        importId: input.importId,
        mode,
        counts: { created: progress.created, skipped: progress.skipped, failed: progress.failed, reconcileRemoved: progress.reconcileRemoved },
        error,
        durationMs: Date.now() - started,
        ...(cancelled ? { cancelled } : {}),
      });
    });
  }
  return { importId: input.importId, ...progress, error };
}

function sortedOutcomes(results: Map<string, ItemResult>): ItemResult[] {
  return [...results.values()].sort((a, b) => a.key.localeCompare(b.key));
}

/**
 * Runs provision children with at most `limit` in flight. Every lane runs to its end, also when the
 * import is cancelled, so the import closes only after each cancelled provision's compensation.
 */
async function provisionIsolated(items: Item[], limit: number, progress: ImportProgress, results: Map<string, ItemResult>): Promise<void> {
  const { workflowId: parentId } = workflowInfo();
  let next = 0;
  const lane = async () => {
    while (next < items.length && !CancellationScope.current().consideredCancelled) {
      const item = items[next++];
      const result = await provisionItem(item, parentId);
      results.set(item.key, result);
      if (result.outcome === 'failed') progress.failed++;
      else if (result.outcome === 'superseded') progress.superseded = (progress.superseded ?? 0) + 1;
      else if (result.outcome === 'removed') progress.removed = (progress.removed ?? 0) + 1;
      else progress.provisioned++;
    }
  };
  const lanes = await Promise.allSettled(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, lane));
  const rejected = lanes.find((l): l is PromiseRejectedResult => l.status === 'rejected');
  if (rejected) throw rejected.reason;
}

/**
 * One item's provision. Throws only for the import's own cancellation; anything that happens to the
 * item itself (another run took it over, it was deleted, its provision failed) is its outcome.
 */
/** One item's provision, as a child the import's cancellation reaches (both loops start it alike). */
function provisionChild(item: Item, parentId: string) {
  return executeChild(provisionWorkspace, {
    workflowId: workflowIds.provision(item.workspaceId),
    args: [{ workspaceId: item.workspaceId }],
    parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
    typedSearchAttributes: [
      { key: WorkspaceIdKey, value: item.workspaceId },
      ...(item.workspace ? [{ key: WorkspaceNameKey, value: workspaceNameAttribute(item.workspace.name) }] : []),
    ],
    memo: { startedBy: parentId },
    // Items recorded before issue 18 carry no label: their children start as they did.
    ...(item.workspace ? { staticSummary: workspaceSummary('provision (import)', item.workspace) } : {}),
  });
}

async function provisionItem(item: Item, parentId: string): Promise<ItemResult> {
  const before = await dbLocal.importItemState({ workspaceId: item.workspaceId });
  if (before.status === 'removed') return { key: item.key, outcome: 'removed' };
  // A restart or re-provision got to it first (and may be done): provisioning it again would replace
  // the compute and credentials of that run.
  if (before.status !== 'provisioning' && before.status !== 'failed') return { key: item.key, outcome: 'superseded' };
  try {
    const result = await provisionChild(item, parentId);
    return { key: item.key, outcome: result.status };
  } catch (err) {
    if (CancellationScope.current().consideredCancelled) throw err; // the import itself was cancelled
    const after = await dbLocal.importItemState({ workspaceId: item.workspaceId });
    if (after.status === 'removed') return { key: item.key, outcome: 'removed' };
    // Someone else cancelled the child (a restart supersedes a running provision), or already runs one.
    if (isCancellation(err) || err instanceof WorkflowExecutionAlreadyStartedError) return { key: item.key, outcome: 'superseded' };
    return { key: item.key, outcome: 'failed', error: childFailureMessage(err) };
  }
}

function childFailureMessage(err: unknown): string {
  const cause = (err as { cause?: unknown }).cause;
  return (cause instanceof ApplicationFailure ? cause.message : 'provisioning failed').slice(0, 500);
}

/** The loop of runs started before ITEM_ISOLATION_PATCH: any cancellation aborts the import. */
async function provisionAll(items: Item[], limit: number, progress: ImportProgress): Promise<ItemResult[]> {
  const outcomes: ItemResult[] = [];
  const { workflowId: parentId } = workflowInfo();
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const item = items[next++];
      try {
        const result = await provisionChild(item, parentId);
        outcomes.push({ key: item.key, outcome: result.status });
        progress.provisioned++;
      } catch (err) {
        if (isCancellation(err)) throw err;
        outcomes.push({ key: item.key, outcome: 'failed', error: childFailureMessage(err) });
        progress.failed++;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, lane));
  return outcomes.sort((a, b) => a.key.localeCompare(b.key));
}
