// ImportOrg (SPEC §5). Rows are created parent-first, one activity per tree level (so a 1,000-workspace
// tree costs a handful of history events); only workspaces that need compute get a child provision
// workflow, with bounded concurrency. Reconcile runs after the loop. org.import.completed is recorded
// in a non-cancellable finally, so it always pairs with org.import.started.
import {
  ApplicationFailure,
  CancellationScope,
  ParentClosePolicy,
  executeChild,
  isCancellation,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { ImportActivities } from '../activities/import-activities';
import { WorkspaceIdKey } from '../domain/search-attributes';
import { workflowIds, type ImportItemOutcome } from '../domain/vocabulary';
import { dbActivityOptions } from './activity-options';
import { deleteWorkspaceTree } from './delete-tree';
import { importProgressQuery, type ImportOrgInput, type ImportOrgResult, type ImportProgress } from './definitions';
import { provisionWorkspace } from './provision';

const db = proxyActivities<ImportActivities>(dbActivityOptions);

export const DEFAULT_PROVISION_CONCURRENCY = 8;

export async function importOrg(input: ImportOrgInput): Promise<ImportOrgResult> {
  const started = Date.now(); // workflow time: deterministic on replay
  const progress: ImportProgress = { phase: 'starting', total: 0, created: 0, skipped: 0, provisioned: 0, failed: 0, reconcileRemoved: 0, toProvision: 0 };
  setHandler(importProgressQuery, () => progress);
  let error: string | null = null;
  let mode: 'merge' | 'reconcile' = 'merge';
  try {
    const plan = await db.beginImport({ importId: input.importId });
    mode = plan.mode;
    progress.total = plan.total;

    progress.phase = 'creating';
    const toProvision: Array<{ key: string; workspaceId: string }> = [];
    for (let depth = 0; depth <= plan.maxDepth; depth++) {
      const level = await db.createImportLevel({ importId: input.importId, depth });
      progress.created += level.created;
      progress.skipped += level.existing + level.notSpawned;
      toProvision.push(...level.toProvision);
    }
    progress.toProvision = toProvision.length;

    progress.phase = 'provisioning';
    const outcomes = await provisionAll(toProvision, input.provisionConcurrency ?? DEFAULT_PROVISION_CONCURRENCY, progress);
    await db.recordItemOutcomes({ importId: input.importId, outcomes });

    if (mode === 'reconcile') {
      progress.phase = 'reconciling';
      for (const rootId of await db.findReconcileTargets({ importId: input.importId })) {
        const removed = await executeChild(deleteWorkspaceTree, {
          workflowId: `${workflowIds.deleteTree(rootId)}-reconcile-${input.importId.slice(0, 8)}`,
          args: [{ rootId, purge: false }],
        });
        progress.reconcileRemoved += removed.removedIds.length;
      }
    }
    progress.phase = progress.failed > 0 ? 'failed' : 'completed';
  } catch (err) {
    progress.phase = 'failed';
    error = isCancellation(err) ? 'import cancelled' : err instanceof ApplicationFailure ? err.message : 'import failed; see the workflow history';
    if (isCancellation(err)) throw err;
  } finally {
    await CancellationScope.nonCancellable(() =>
      db.completeImport({
        importId: input.importId,
        mode,
        counts: { created: progress.created, skipped: progress.skipped, failed: progress.failed, reconcileRemoved: progress.reconcileRemoved },
        error,
        durationMs: Date.now() - started,
      }),
    );
  }
  return { importId: input.importId, ...progress, error };
}

/** Runs provision children with at most `limit` in flight; a failed child is an outcome, not an abort. */
async function provisionAll(
  items: Array<{ key: string; workspaceId: string }>,
  limit: number,
  progress: ImportProgress,
): Promise<Array<{ key: string; outcome: ImportItemOutcome; error?: string }>> {
  const outcomes: Array<{ key: string; outcome: ImportItemOutcome; error?: string }> = [];
  const { workflowId: parentId } = workflowInfo();
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const item = items[next++];
      try {
        const result = await executeChild(provisionWorkspace, {
          workflowId: workflowIds.provision(item.workspaceId),
          args: [{ workspaceId: item.workspaceId }],
          parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
          typedSearchAttributes: [{ key: WorkspaceIdKey, value: item.workspaceId }],
          memo: { startedBy: parentId },
        });
        outcomes.push({ key: item.key, outcome: result.status });
        progress.provisioned++;
      } catch (err) {
        if (isCancellation(err)) throw err;
        const cause = (err as { cause?: unknown }).cause;
        const message = cause instanceof ApplicationFailure ? cause.message : 'provisioning failed';
        outcomes.push({ key: item.key, outcome: 'failed', error: message.slice(0, 500) });
        progress.failed++;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, lane));
  return outcomes.sort((a, b) => a.key.localeCompare(b.key));
}
