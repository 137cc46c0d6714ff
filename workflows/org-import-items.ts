// One org import item's provision, shared by the import's loops (workflows/org-import.ts: the loops of
// runs before issue #19, which hold every item; org-import-paged.ts: a page at a time). Workflow code.
import {
  ApplicationFailure,
  CancellationScope,
  ParentClosePolicy,
  executeChild,
  isCancellation,
  proxyLocalActivities,
  workflowInfo,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { ImportActivities } from '../activities/import-activities';
import { WorkspaceIdKey, WorkspaceNameKey } from '../domain/search-attributes';
import { workspaceNameAttribute, workspaceSummary, type WorkspaceLabel } from '../domain/workflow-summary';
import { workflowIds, type ImportItemOutcome } from '../domain/vocabulary';
import { dbLocalActivityOptions } from './activity-options';
import type { ImportProgress } from './definitions';
import { provisionWorkspace } from './provision';

const dbLocal = proxyLocalActivities<ImportActivities>(dbLocalActivityOptions);

export const DEFAULT_PROVISION_CONCURRENCY = 8;

export type Item = { key: string; workspaceId: string; workspace?: WorkspaceLabel };
export type ItemResult = { key: string; outcome: ImportItemOutcome; error?: string };

/** The import row's error for a failed step: the import's own cancellation, another's, or a business failure. */
export function importFailureMessage(err: unknown, importCancelled: boolean): string {
  if (importCancelled) return 'import cancelled';
  if (isCancellation(err)) return 'a step of the import was cancelled by another operation';
  return err instanceof ApplicationFailure ? err.message : 'import failed; see the workflow history';
}

export function sortedOutcomes(results: Map<string, ItemResult>): ItemResult[] {
  return [...results.values()].sort((a, b) => a.key.localeCompare(b.key));
}

/**
 * Runs provision children with at most `limit` in flight. Every lane runs to its end, also when the
 * import is cancelled, so the import closes only after each cancelled provision's compensation.
 */
export async function provisionIsolated(items: Item[], limit: number, progress: ImportProgress, results: Map<string, ItemResult>): Promise<void> {
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
export async function provisionAll(items: Item[], limit: number, progress: ImportProgress): Promise<ItemResult[]> {
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
