// Activities of the org import. The template snapshot lives in org_imports (not in workflow history:
// a 1,000-workspace tree would bloat it); each level is created in ONE transaction, parent-first, and
// recorded in org_import_items, so a re-run of the activity finds its rows instead of duplicating them.
// Every workspace an import creates carries its provenance (origin `import`, the org key, the import
// id); merge dedupe and reconcile only ever match workspaces of the same org.
import type { WorkspaceLabel } from '../domain/workflow-summary';
import { ApplicationFailure } from '@temporalio/activity';
import { absolutePositions, flattenTemplate, type FlatWorkspace, type OrgTemplate } from '../domain/org-template';
import { EVENTS, type ComputeKind, type ImportItemOutcome, type OrgImportMode, type OrgImportStatus, type WorkspaceStatus } from '../domain/vocabulary';
import type { Config } from '../config';
import type { SecretBox } from './crypto';
import { planReconcile } from './import-reconcile';
import { createLevelWriter } from './import-level';
import { CANCELLED_BEFORE_PROVISION, createImportPageActivities } from './import-pages';
import { readSnapshot } from './template-snapshot';
import type { WorkspaceStore } from './workspace-store';

export interface ImportActivityDeps {
  store: WorkspaceStore;
  box: SecretBox;
  config: Config;
}

export interface ImportPlan {
  importId: string;
  mode: OrgImportMode;
  templateName: string;
  total: number;
  maxDepth: number;
}

export interface LevelResult {
  created: number;
  existing: number;
  notSpawned: number;
  /** Existing workspaces left alone because a provision of theirs is already running (outcome `skipped`). */
  skippedProvisioning?: number;
  /** Workspaces of this level that need compute provisioned (new, or existing and failed). */
  /** `workspace` names the child provision in the Temporal UI (absent in results recorded before issue 18). */
  /** Empty when called with `paged` (issue #19): the items are flagged in org_import_items instead. */
  toProvision: Array<{ key: string; workspaceId: string; workspace?: WorkspaceLabel }>;
  /** With `paged`: how many items of this level need compute provisioned (needs_provision). */
  provisionCount?: number;
}

export interface ImportCounts {
  created: number;
  skipped: number;
  failed: number;
  reconcileRemoved: number;
}

/** Imports whose parsed plan a worker keeps (a few run at once at most; each 10,000-workspace plan is ~20 MB). */
const PLAN_CACHE_SIZE = 2;

interface ImportSnapshotPlan {
  template: OrgTemplate;
  mode: OrgImportMode;
  org_key: string;
  flat: FlatWorkspace[];
  positions: Map<string, { x: number; y: number }>;
}

/** Serializes the name-dedupe check across concurrent imports (same constant everywhere). */
const IMPORT_SCOPE_LOCK = 7_283_515;


export function createImportActivities({ store, box, config }: ImportActivityDeps) {
  const pool = store.pool;

  /**
   * The last imports' parsed plans, by import id. An import's snapshot never changes once written, so a
   * cached plan is always right; without it every level re-read, decrypted and flattened the whole
   * template (~0.7 s and ~30 MB of garbage per level for 10,000 workspaces, measured in bench B6).
   */
  const plans = new Map<string, Promise<ImportSnapshotPlan>>();
  function loadPlan(importId: string): Promise<ImportSnapshotPlan> {
    let plan = plans.get(importId);
    if (!plan) {
      plan = loadTemplate(importId).then((t) => {
        const flat = flattenTemplate(t.template);
        return { ...t, flat, positions: absolutePositions(flat) };
      });
      plans.set(importId, plan);
      // A failed read is not kept: the activity's retry reads again.
      plan.catch(() => plans.delete(importId));
      while (plans.size > PLAN_CACHE_SIZE) plans.delete(plans.keys().next().value as string);
    }
    return plan;
  }

  async function loadTemplate(importId: string): Promise<{ template: OrgTemplate; mode: OrgImportMode; org_key: string }> {
    const { rows } = await pool.query<{ template: OrgTemplate; mode: OrgImportMode; org_key: string; snapshot_format: number }>(
      'SELECT template, mode, org_key, snapshot_format FROM org_imports WHERE id = $1',
      [importId],
    );
    if (!rows[0]) throw ApplicationFailure.nonRetryable('import not found', 'ImportNotFound');
    return { template: readSnapshot(rows[0], box), mode: rows[0].mode, org_key: rows[0].org_key };
  }

  const { createLevel } = createLevelWriter({ store, box, config });

  /** Writes one level in ONE transaction; a re-run finds its rows and writes nothing. */
  async function writeLevel(input: { importId: string; depth: number }): Promise<void> {
    const { template, org_key: orgKey, flat, positions } = await loadPlan(input.importId);
    const level = flat.filter((w) => w.depth === input.depth);
    await store.inTransaction(async (db) => {
      await db.query('SELECT pg_advisory_xact_lock($1)', [IMPORT_SCOPE_LOCK]);
      const done = await db.query<{ key: string }>('SELECT key FROM org_import_items WHERE import_id = $1 AND depth = $2', [input.importId, input.depth]);
      const doneKeys = new Set(done.rows.map((r) => r.key));
      const parents = await db.query<{ key: string; workspace_id: string | null }>(
        'SELECT key, workspace_id FROM org_import_items WHERE import_id = $1 AND depth = $2',
        [input.importId, input.depth - 1],
      );
      const parentIds = new Map(parents.rows.map((r) => [r.key, r.workspace_id]));
      const todo = level.filter((ws) => !doneKeys.has(ws.key));
      const spawned = todo.filter((ws) => ws.spawn).map((ws) => ({ ws, parentId: ws.parentKey ? (parentIds.get(ws.parentKey) ?? null) : null }));
      const items = await createLevel(db, input.importId, orgKey, spawned, template.defaults.env ?? {}, positions);
      // spawning: false → no side effects, but the workspace is counted (an item row, no workspace).
      // needs_provision comes with each item (LevelItem): joining the rows back to workspaces for it
      // cost 50-75 ms at a level of 10,000 (B6), a quarter of the level's workspace INSERT.
      await db.query(
        `INSERT INTO org_import_items (import_id, key, depth, name, workspace_id, outcome, needs_provision)
         SELECT $1, u.key, u.depth, u.name, u.ws, u.outcome, u.provision
           FROM unnest($2::text[], $3::int[], $4::text[], $5::uuid[], $6::text[], $7::boolean[]) AS u(key, depth, name, ws, outcome, provision)`,
        [
          input.importId,
          todo.map((ws) => ws.key),
          todo.map((ws) => ws.depth),
          todo.map((ws) => ws.name),
          todo.map((ws) => items.get(ws.key)?.id ?? null),
          todo.map((ws) => items.get(ws.key)?.outcome ?? 'not_spawned'),
          todo.map((ws) => items.get(ws.key)?.needsProvision ?? false),
        ],
      );
    });
  }

  /**
   * One level's counts, derived from its rows so a re-run answers as the first run did. The outcomes are
   * as writeLevel wrote them: no item is provisioned before every level exists.
   */
  async function levelCounts(input: { importId: string; depth: number }): Promise<LevelResult> {
    const { rows } = await pool.query<{ outcome: ImportItemOutcome; n: number; provision: number }>(
      `SELECT outcome, count(*)::int AS n, count(*) FILTER (WHERE needs_provision)::int AS provision
         FROM org_import_items WHERE import_id = $1 AND depth = $2 GROUP BY outcome`,
      [input.importId, input.depth],
    );
    const count = (o: ImportItemOutcome) => rows.find((r) => r.outcome === o)?.n ?? 0;
    return {
      created: count('created'),
      existing: count('existing'),
      notSpawned: count('not_spawned'),
      skippedProvisioning: count('skipped'),
      toProvision: [],
      provisionCount: rows.reduce((sum, r) => sum + r.provision, 0),
    };
  }

  return {
    ...createImportPageActivities({ store }),

    /** Records org.import.started (only now: the template parsed before the import row existed). */
    async beginImport(input: { importId: string }): Promise<ImportPlan> {
      const { template, mode, flat } = await loadPlan(input.importId);
      await store.recordEvent(EVENTS.orgImportStarted, {
        orgImportId: input.importId,
        payload: { name: template.name, mode, workspaces: flat.length },
        dedupeKey: `${input.importId}:started`,
      });
      return {
        importId: input.importId,
        mode,
        templateName: template.name,
        total: flat.length,
        maxDepth: flat.reduce((m, w) => Math.max(m, w.depth), -1),
      };
    },

    /**
     * Creates one level. With `paged` (runs since issue #19) it answers counts only: the items to
     * provision stay in Postgres (needs_provision), where nextProvisionPage reads them. Without it (runs
     * started before, replaying or still running) the level's items to provision come back in the result.
     */
    async createImportLevel(input: { importId: string; depth: number; paged?: boolean }): Promise<LevelResult> {
      await writeLevel(input);
      if (input.paged) return levelCounts(input);
      // Derived from the rows, so a re-run of this activity answers exactly as the first run did.
      const { rows } = await pool.query<{
        key: string;
        outcome: ImportItemOutcome;
        workspace_id: string | null;
        compute: ComputeKind | null;
        status: string | null;
        name: string | null;
        runtime: string | null;
      }>(
        `SELECT i.key, i.outcome, i.workspace_id, w.compute, w.status, w.name, w.runtime
           FROM org_import_items i LEFT JOIN workspaces w ON w.id = i.workspace_id
          WHERE i.import_id = $1 AND i.depth = $2 ORDER BY i.key`,
        [input.importId, input.depth],
      );
      const count = (o: ImportItemOutcome) => rows.filter((r) => r.outcome === o).length;
      return {
        created: count('created'),
        existing: count('existing'),
        notSpawned: count('not_spawned'),
        skippedProvisioning: count('skipped'),
        // Merge provisions what is new or failed; online/offline workspaces keep the compute they have.
        toProvision: rows
          .filter((r) => r.workspace_id && r.compute && r.compute !== 'none' && (r.outcome === 'created' || (r.outcome === 'existing' && r.status === 'failed')))
          .map((r) => ({
            key: r.key,
            workspaceId: r.workspace_id as string,
            workspace: { name: r.name ?? '', runtime: r.runtime ?? '', compute: r.compute as string },
          })),
      };
    },

    async recordItemOutcomes(input: { importId: string; outcomes: Array<{ key: string; outcome: ImportItemOutcome; error?: string }> }): Promise<void> {
      if (input.outcomes.length === 0) return;
      await pool.query(
        `UPDATE org_import_items i SET outcome = u.outcome, error = u.error, updated_at = now()
           FROM unnest($2::text[], $3::text[], $4::text[]) AS u(key, outcome, error)
          WHERE i.import_id = $1 AND i.key = u.key`,
        [input.importId, input.outcomes.map((o) => o.key), input.outcomes.map((o) => o.outcome), input.outcomes.map((o) => o.error ?? null)],
      );
    },

    /**
     * Where an item stands when the import comes to provision it, or after its provision child ended
     * without a result: `removed` (deleted meanwhile, or gone), or the row's status. The import
     * provisions only an item still `provisioning` (as it created it) or `failed`; any other status
     * means a restart or re-provision took it over.
     */
    async importItemState(input: { workspaceId: string }): Promise<{ status: WorkspaceStatus }> {
      const ws = await store.getWorkspace(input.workspaceId);
      return { status: ws?.status ?? 'removed' };
    },

    /**
     * The import was cancelled: its in-flight and not yet started items end `cancelled`. A workspace the
     * import created but never began to provision is marked failed (not left `provisioning` with no
     * provision behind it), so POST /workspaces/:id/provision or a retry of the import can pick it up;
     * one whose provision started (provision_started_at) belongs to that run and is not touched.
     */
    async recordCancelledItems(input: { importId: string; keys: string[]; unstartedWorkspaceIds: string[] }): Promise<void> {
      if (input.keys.length > 0) {
        await pool.query(
          `UPDATE org_import_items SET outcome = 'cancelled', updated_at = now()
            WHERE import_id = $1 AND key = ANY($2::text[]) AND outcome IN ('created', 'existing')`,
          [input.importId, input.keys],
        );
      }
      if (input.unstartedWorkspaceIds.length === 0) return;
      const { rows } = await pool.query<{ id: string }>(
        `UPDATE workspaces SET status = 'failed', last_sample_error = $2, updated_at = now()
          WHERE id = ANY($1::uuid[]) AND status = 'provisioning' AND provision_started_at IS NULL RETURNING id`,
        [input.unstartedWorkspaceIds, CANCELLED_BEFORE_PROVISION],
      );
      await store.recordEvents(
        EVENTS.workspaceProvisionFailed,
        rows.map((r) => ({ workspaceId: r.id, payload: { error: CANCELLED_BEFORE_PROVISION }, dedupeKey: `${input.importId}:cancelled:${r.id}` })),
      );
    },

    /**
     * Reconcile targets (import-reconcile.ts): the tops of the subtrees of this org's workspaces that
     * the import's result set does not contain, minus those holding a workspace the org does not own;
     * those are recorded on the import as `reconcile_kept`. Names are every template name (spawning:
     * false included), ids every result id (created and existing).
     */
    async findReconcileTargets(input: { importId: string }): Promise<string[]> {
      const { rows: items } = await pool.query<{ name: string; workspace_id: string | null }>(
        'SELECT name, workspace_id FROM org_import_items WHERE import_id = $1',
        [input.importId],
      );
      const { org_key: orgKey } = await loadTemplate(input.importId);
      const plan = await planReconcile(pool, {
        importId: input.importId,
        orgKey,
        names: [...new Set(items.map((r) => r.name))],
        resultIds: items.map((r) => r.workspace_id).filter((id): id is string => !!id),
      });
      await pool.query('UPDATE org_imports SET reconcile_kept = $2 WHERE id = $1', [input.importId, JSON.stringify(plan.kept)]);
      return plan.roots;
    },

    async completeImport(input: {
      importId: string;
      mode: OrgImportMode;
      counts: ImportCounts;
      error: string | null;
      durationMs: number;
      cancelled?: boolean;
    }): Promise<void> {
      const status: OrgImportStatus = input.cancelled ? 'cancelled' : input.error || input.counts.failed > 0 ? 'failed' : 'completed';
      await pool.query(
        `UPDATE org_imports SET status = $2, created_count = $3, skipped_count = $4, failed_count = $5,
                reconcile_removed_count = $6, error = $7, completed_at = COALESCE(completed_at, now())
          WHERE id = $1`,
        [input.importId, status, input.counts.created, input.counts.skipped, input.counts.failed, input.counts.reconcileRemoved, input.error],
      );
      await store.recordEvent(EVENTS.orgImportCompleted, {
        orgImportId: input.importId,
        payload: {
          mode: input.mode,
          created: input.counts.created,
          skipped: input.counts.skipped,
          failed: input.counts.failed,
          reconcile_removed: input.counts.reconcileRemoved,
          duration_ms: input.durationMs,
          error: input.error,
          status,
        },
        dedupeKey: `${input.importId}:completed`,
      });
    },
  };
}

export type ImportActivities = ReturnType<typeof createImportActivities>;
