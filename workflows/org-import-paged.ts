// The org import since issue #19: its history and payloads stay bounded for any tree size. Levels come
// back as counts (the items to provision are flagged in org_import_items); the provisioning phase reads
// them a page at a time after a cursor, records each page's outcomes, and continues as new every
// `itemsPerRun` items, carrying only the cursor, the progress and the first run's start. The final run
// reconciles and records org.import.completed. Item isolation and cancellation behave as in the loop of
// org-import.ts; a cancel marks the items after the cursor in one activity that works in Postgres.
import {
  CancellationScope,
  CancelledFailure,
  continueAsNew,
  executeChild,
  isCancellation,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { ImportActivities } from '../activities/import-activities';
import type { ItemCursor } from '../domain/import-item-cursor';
import { workflowIds, type OrgImportMode } from '../domain/vocabulary';
import { dbActivityOptions } from './activity-options';
import { deleteWorkspaceTree } from './delete-tree';
import { importProgressQuery, removedCountOf, type ImportOrgInput, type ImportOrgResult, type ImportProgress } from './definitions';
import { DEFAULT_PROVISION_CONCURRENCY, importFailureMessage, provisionIsolated, sortedOutcomes, type ItemResult } from './org-import-items';

const db = proxyActivities<ImportActivities>(dbActivityOptions);

/** Items per page: one page's items and outcomes are one activity payload each (the activity also caps bytes). */
export const DEFAULT_IMPORT_PAGE_SIZE = 200;
/** Items per run: ~8 history events each, so a run stays well below Temporal's 10,000-event limit. */
export const DEFAULT_ITEMS_PER_RUN = 500;

/**
 * A page's outcomes, in calls of at most OUTCOME_CHARS characters of JSON (a page's keys are capped by
 * nextProvisionPage, but each failure's message adds up to 500 characters): one call for any ordinary page.
 */
const OUTCOME_CHARS = 64 * 1024;
async function recordOutcomes(importId: string, page: Map<string, ItemResult>): Promise<void> {
  let chunk: ItemResult[] = [];
  let chars = 0;
  for (const outcome of sortedOutcomes(page)) {
    const size = JSON.stringify(outcome).length;
    if (chunk.length > 0 && chars + size > OUTCOME_CHARS) {
      await db.recordItemOutcomes({ importId, outcomes: chunk });
      chunk = [];
      chars = 0;
    }
    chunk.push(outcome);
    chars += size;
  }
  if (chunk.length > 0) await db.recordItemOutcomes({ importId, outcomes: chunk });
}

export async function importOrgPaged(input: ImportOrgInput): Promise<ImportOrgResult> {
  const { importId, carry } = input;
  const startedAt = carry?.startedAt ?? Date.now(); // workflow time: deterministic on replay
  const progress: ImportProgress = carry
    ? { ...carry.progress }
    : { phase: 'starting', total: 0, created: 0, skipped: 0, provisioned: 0, failed: 0, superseded: 0, removed: 0, reconcileRemoved: 0, toProvision: 0 };
  setHandler(importProgressQuery, () => progress);
  let mode: OrgImportMode = carry?.mode ?? 'merge';
  let cursor: ItemCursor | null = carry?.cursor ?? null;
  let error: string | null = null;
  let cancelled = false;
  let provisioningDone = false;
  let continueWith: ImportOrgInput | null = null;
  // Outcomes of the page in flight, not yet recorded (recorded in the finally if the run stops mid-page).
  let page = new Map<string, ItemResult>();
  try {
    if (!carry) {
      const plan = await db.beginImport({ importId });
      mode = plan.mode;
      progress.total = plan.total;
      progress.phase = 'creating';
      for (let depth = 0; depth <= plan.maxDepth; depth++) {
        const level = await db.createImportLevel({ importId, depth, paged: true });
        progress.created += level.created;
        progress.skipped += level.existing + level.notSpawned + (level.skippedProvisioning ?? 0);
        progress.toProvision += level.provisionCount ?? 0;
      }
    }

    progress.phase = 'provisioning';
    const concurrency = input.provisionConcurrency ?? DEFAULT_PROVISION_CONCURRENCY;
    const pageSize = Math.max(1, input.pageSize ?? DEFAULT_IMPORT_PAGE_SIZE);
    const itemsPerRun = Math.max(1, input.itemsPerRun ?? DEFAULT_ITEMS_PER_RUN);
    let doneThisRun = 0;
    for (;;) {
      // The server's suggestion counts only after this run did some work: a run that continued at once
      // would continue forever.
      if (doneThisRun >= itemsPerRun || (doneThisRun > 0 && workflowInfo().continueAsNewSuggested)) {
        // A cancel that came with the last page's result is the import's end, not the next run's start.
        if (CancellationScope.current().consideredCancelled) throw new CancelledFailure('import cancelled');
        continueWith = { ...input, carry: { phase: 'provisioning', mode, cursor, progress: { ...progress }, startedAt } };
        break;
      }
      const { items } = await db.nextProvisionPage({ importId, after: cursor, limit: Math.min(pageSize, itemsPerRun - doneThisRun) });
      if (items.length === 0) break;
      await provisionIsolated(items, concurrency, progress, page);
      await recordOutcomes(importId, page);
      const last = items[items.length - 1];
      cursor = { depth: last.depth, key: last.key };
      page = new Map();
      doneThisRun += items.length;
    }

    if (!continueWith) {
      provisioningDone = true;
      // A13.3: reconcile only after an error-free loop (a failed item's subtree is not known to be gone).
      if (mode === 'reconcile' && progress.failed === 0) {
        progress.phase = 'reconciling';
        for (const rootId of await db.findReconcileTargets({ importId })) {
          // A cancel of the import lets a started delete finish (half a cascade would leave marked rows
          // with running compute); the next target's delete is then not started.
          const removed = await CancellationScope.nonCancellable(() =>
            executeChild(deleteWorkspaceTree, {
              workflowId: `${workflowIds.deleteTree(rootId)}-reconcile-${importId.slice(0, 8)}`,
              args: [{ rootId, purge: false }],
            }),
          );
          progress.reconcileRemoved += removedCountOf(removed);
        }
      }
      // A cancel that came while the last delete ran still ends the import `cancelled`.
      if (CancellationScope.current().consideredCancelled) throw new CancelledFailure('import cancelled');
      progress.phase = progress.failed > 0 ? 'failed' : 'completed';
    }
  } catch (err) {
    const ownCancellation = isCancellation(err) && CancellationScope.current().consideredCancelled;
    cancelled = ownCancellation;
    progress.phase = cancelled ? 'cancelled' : 'failed';
    error = importFailureMessage(err, ownCancellation);
    // Only the import's own cancellation ends its workflow as cancelled.
    if (ownCancellation) throw err;
  } finally {
    // A run that continues as new records nothing: the next run carries on (and its finally closes).
    if (!continueWith) {
      await CancellationScope.nonCancellable(async () => {
        if (page.size > 0) await recordOutcomes(importId, page);
        // The items after the cursor not yet finished, in flight ones included (they compensate).
        if (cancelled && !provisioningDone) await db.cancelRemainingItems({ importId, after: cursor });
        await db.completeImport({
          importId,
          mode,
          counts: { created: progress.created, skipped: progress.skipped, failed: progress.failed, reconcileRemoved: progress.reconcileRemoved },
          error,
          durationMs: Date.now() - startedAt,
          ...(cancelled ? { cancelled } : {}),
        });
      });
    }
  }
  if (continueWith) return continueAsNew<(input: ImportOrgInput) => Promise<ImportOrgResult>>(continueWith);
  return { importId, ...progress, error };
}
