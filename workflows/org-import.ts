// ImportOrg (SPEC §5). Rows are created parent-first, one activity per tree level (so a 1,000-workspace
// tree costs a handful of history events); only workspaces that need compute get a child provision
// workflow, with bounded concurrency. Reconcile runs after an error-free loop. org.import.completed is
// recorded in a non-cancellable finally, so it always pairs with org.import.started.
//
// Item isolation: what happens to one item (a restart supersedes its provision, a delete removes it)
// changes that item's outcome only. Only the import's own cancellation (POST /org/imports/:id/cancel)
// stops the import, and then it waits for every in-flight provision to finish its compensation.
//
// Runs started since issue #19 take the paged path (org-import-paged.ts): history and payloads stay
// bounded for any tree size. The loop below is kept for the runs started before it.
import { CancellationScope, CancelledFailure, executeChild, isCancellation, patched, proxyActivities, setHandler } from '@temporalio/workflow';
import type { ImportActivities } from '../activities/import-activities';
import { workflowIds } from '../domain/vocabulary';
import { dbActivityOptions } from './activity-options';
import { deleteWorkspaceTree } from './delete-tree';
import { importProgressQuery, removedCountOf, type ImportOrgInput, type ImportOrgResult, type ImportProgress } from './definitions';
import { DEFAULT_PROVISION_CONCURRENCY, importFailureMessage, provisionAll, provisionIsolated, sortedOutcomes, type Item, type ItemResult } from './org-import-items';
import { importOrgPaged } from './org-import-paged';

const db = proxyActivities<ImportActivities>(dbActivityOptions);

/**
 * Runs started before item isolation keep replaying the old loop: any cancellation aborted the import,
 * reconcile ran whatever the loop's failures, and a cancelled import ended `failed`.
 */
export const ITEM_ISOLATION_PATCH = 'org-import-item-isolation';

/**
 * Runs started before issue #19 keep replaying the loop below, which holds every item to provision in
 * memory and in its payloads; a run that continued as new (input.carry) is always paged.
 */
export const PAGED_IMPORT_PATCH = 'org-import-paged';

export async function importOrg(input: ImportOrgInput): Promise<ImportOrgResult> {
  if (input.carry || patched(PAGED_IMPORT_PATCH)) return importOrgPaged(input);
  return importOrgUnpaged(input);
}

async function importOrgUnpaged(input: ImportOrgInput): Promise<ImportOrgResult> {
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
    // Only the import's own cancellation ends its workflow as cancelled (runs before isolation: any).
    const importCancelled = isCancellation(err) && (ownCancellation || !isolated);
    error = importFailureMessage(err, importCancelled);
    if (importCancelled) throw err;
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

