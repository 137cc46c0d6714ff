// Activities of the org import. The template snapshot lives in org_imports (not in workflow history:
// a 1,000-workspace tree would bloat it); each level is created in ONE transaction, parent-first, and
// recorded in org_import_items, so a re-run of the activity finds its rows instead of duplicating them.
// Every workspace an import creates carries its provenance (origin `import`, the org key, the import
// id); merge dedupe and reconcile only ever match workspaces of the same org.
import type { WorkspaceLabel } from '../domain/workflow-summary';
import { ApplicationFailure } from '@temporalio/activity';
import type { PoolClient } from 'pg';
import { absolutePositions, flattenTemplate, type FlatWorkspace, type OrgTemplate } from '../domain/org-template';
import { EVENTS, type ComputeKind, type ImportItemOutcome, type OrgImportMode, type OrgImportStatus, type WorkspaceStatus } from '../domain/vocabulary';
import { computeFor, deliveryModeFor, initialStatusFor } from '../domain/workspace-defaults';
import type { Config } from '../config';
import { hashToken, newAuthToken, newInboundSecret, type SecretBox } from './crypto';
import { planReconcile } from './import-reconcile';
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
  toProvision: Array<{ key: string; workspaceId: string; workspace?: WorkspaceLabel }>;
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

/** The failure a workspace shows when its import was cancelled before its provision began. */
const CANCELLED_BEFORE_PROVISION = 'The import was cancelled before this workspace was provisioned.';

function requiredNames(ws: FlatWorkspace): string[] {
  // Strict names only: an any_of group cannot be enforced per container (preflight checked it).
  return (ws.required_env ?? []).filter((e): e is string => typeof e === 'string');
}

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

  /**
   * Creates one tree level in bulk (a statement per table, not per workspace): finds the workspaces of
   * the same org that already exist under the same parent with the same name (merge dedupe; a
   * workspace created through the API or by another org never matches), inserts the rest with their
   * provenance, layouts, schedules, env secrets and, for external agents, credentials. Returns the item
   * per key: `existing`, or `skipped` for an existing one a provision of its own is still working on.
   */
  async function createLevel(
    db: PoolClient,
    importId: string,
    orgKey: string,
    level: Array<{ ws: FlatWorkspace; parentId: string | null }>,
    orgEnv: Record<string, string>,
    positions: Map<string, { x: number; y: number }>,
  ): Promise<Map<string, { id: string; outcome: ImportItemOutcome }>> {
    const out = new Map<string, { id: string; outcome: ImportItemOutcome }>();
    if (level.length === 0) return out;
    const scopeKey = (parentId: string | null, name: string) => `${parentId ?? ''}/${name}`;
    const existing = await db.query<{ id: string; parent_id: string | null; name: string; status: WorkspaceStatus }>(
      `SELECT DISTINCT ON (w.parent_id, w.name) w.id, w.parent_id, w.name, w.status
         FROM workspaces w JOIN unnest($1::uuid[], $2::text[]) AS t(parent_id, name)
           ON w.parent_id IS NOT DISTINCT FROM t.parent_id AND w.name = t.name
        WHERE w.status <> 'removed' AND w.origin = 'import' AND w.org_key = $3
        ORDER BY w.parent_id, w.name, w.created_at`,
      [level.map((l) => l.parentId), level.map((l) => l.ws.name), orgKey],
    );
    const found = new Map(existing.rows.map((r) => [scopeKey(r.parent_id, r.name), r]));
    const fresh = level.filter((l) => !found.has(scopeKey(l.parentId, l.ws.name)));
    for (const l of level) {
      const row = found.get(scopeKey(l.parentId, l.ws.name));
      // Merge never starts a second provision beside a running one (its start would collide with it).
      if (row) out.set(l.ws.key, { id: row.id, outcome: row.status === 'provisioning' ? 'skipped' : 'existing' });
    }
    if (fresh.length === 0) return out;

    const computes = fresh.map((l) => computeFor(l.ws.runtime, l.ws.compute, config.DEFAULT_COMPUTE));
    const inserted = await db.query<{ id: string; parent_id: string | null; name: string }>(
      `INSERT INTO workspaces (name, role, tier, runtime, compute, parent_id, delivery_mode, model, max_concurrent_tasks,
                               required_env, provision_timeout_seconds, org_import_id, status, origin, org_key)
       SELECT t.name, t.role, t.tier, t.runtime, t.compute, t.parent_id, t.delivery_mode, t.model, t.max_tasks,
              ARRAY(SELECT jsonb_array_elements_text(t.required_env)), t.timeout, $11::uuid, t.status, 'import', $14::text
         FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::text[], $6::uuid[], $7::text[], $8::int[], $9::jsonb[], $10::int[], $12::text[], $13::text[])
              AS t(name, role, tier, runtime, compute, parent_id, model, max_tasks, required_env, timeout, delivery_mode, status)
       RETURNING id, parent_id, name`,
      [
        fresh.map((l) => l.ws.name),
        fresh.map((l) => l.ws.role ?? ''),
        fresh.map((l) => l.ws.tier ?? 1),
        fresh.map((l) => l.ws.runtime),
        computes,
        fresh.map((l) => l.parentId),
        fresh.map((l) => l.ws.model ?? null),
        fresh.map((l) => l.ws.max_concurrent_tasks ?? 1),
        fresh.map((l) => JSON.stringify(requiredNames(l.ws))),
        fresh.map((l) => l.ws.runtime_config?.provision_timeout_seconds ?? null),
        importId,
        fresh.map((l) => deliveryModeFor(l.ws.runtime)),
        computes.map(initialStatusFor),
        orgKey,
      ],
    );
    // Sibling names are unique (the parser rejects duplicates), so (parent, name) identifies the row.
    const ids = new Map(inserted.rows.map((r) => [scopeKey(r.parent_id, r.name), r.id]));
    const created = fresh.map((l, i) => ({ ...l, id: ids.get(scopeKey(l.parentId, l.ws.name)) as string, compute: computes[i] }));
    for (const c of created) out.set(c.ws.key, { id: c.id, outcome: 'created' });

    // Layouts store absolute positions; the template's canvas is parent-relative (A13.2).
    const withCanvas = created.filter((c) => c.ws.canvas);
    const at = (c: (typeof created)[number]) => positions.get(c.ws.key) ?? { x: 0, y: 0 };
    if (withCanvas.length > 0) {
      await db.query(
        `INSERT INTO canvas_layouts (workspace_id, x, y) SELECT * FROM unnest($1::uuid[], $2::float8[], $3::float8[])
         ON CONFLICT (workspace_id) DO NOTHING`,
        [withCanvas.map((c) => c.id), withCanvas.map((c) => at(c).x), withCanvas.map((c) => at(c).y)],
      );
    }
    // A13.2: each workspace the import creates for provisioning is announced with where it sits. A
    // workspace event (the import's own pair stays started/completed); the stream's ?org_import_id=
    // filter finds it through the workspace's import.
    const provisioning = created.filter((c) => c.compute !== 'none');
    if (provisioning.length > 0) {
      await db.query(
        `WITH inserted AS (
           INSERT INTO structure_events (event_type, workspace_id, payload, dedupe_key)
           SELECT $1, u.ws, u.payload, u.dedupe FROM unnest($2::uuid[], $3::jsonb[], $4::text[]) AS u(ws, payload, dedupe)
           ON CONFLICT (dedupe_key) DO NOTHING RETURNING 1)
         SELECT pg_notify('molecule_events', $5) FROM inserted LIMIT 1`,
        [
          EVENTS.workspaceProvisioning,
          provisioning.map((c) => c.id),
          provisioning.map((c) =>
            JSON.stringify({ name: c.ws.name, tier: c.ws.tier ?? 1, runtime: c.ws.runtime, x: c.ws.canvas?.x ?? 0, y: c.ws.canvas?.y ?? 0, ...(c.parentId ? { parent_id: c.parentId } : {}) }),
          ),
          provisioning.map((c) => `${importId}:${c.ws.key}:provisioning`),
          JSON.stringify({ type: EVENTS.workspaceProvisioning, workspaceId: null, orgImportId: importId }),
        ],
      );
    }
    const external = created.filter((c) => c.compute === 'none');
    if (external.length > 0) {
      // External agents need no compute: their credentials are minted here, in the level's transaction.
      await db.query('INSERT INTO workspace_auth_tokens (workspace_id, token_hash) SELECT * FROM unnest($1::uuid[], $2::text[])', [
        external.map((c) => c.id),
        external.map(() => hashToken(newAuthToken())),
      ]);
      await db.query(
        'UPDATE workspaces w SET platform_inbound_secret = t.secret FROM unnest($1::uuid[], $2::text[]) AS t(id, secret) WHERE w.id = t.id',
        [external.map((c) => c.id), external.map(() => box.seal(newInboundSecret()))],
      );
    }
    // Schedules and env are rare and small: a statement per entry is fine.
    for (const c of created) {
      for (const sch of c.ws.schedules ?? []) {
        await db.query('INSERT INTO workspace_schedules (workspace_id, cron, prompt, enabled) VALUES ($1, $2, $3, $4)', [c.id, sch.cron, sch.prompt, sch.enabled ?? true]);
      }
      // Env layering (A7, see template-materials.ts): persona < root .env < files_dir/.env (file_env)
      // < defaults.env < workspace env; stored as encrypted workspace secrets.
      for (const [name, value] of Object.entries({ ...(c.ws.file_env ?? {}), ...orgEnv, ...(c.ws.env ?? {}) })) {
        await db.query('INSERT INTO workspace_secrets (workspace_id, name, value_enc) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [c.id, name, box.seal(value)]);
      }
      // /configs (A6.2): the snapshot's files_dir and plugin files, then an inline system_prompt on top.
      await store.copyImportFilesToWorkspace(db, importId, c.id, c.ws.file_sources ?? []);
      if (c.ws.system_prompt) {
        await db.query(
          `INSERT INTO workspace_files (workspace_id, path, content) VALUES ($1, 'system-prompt.md', $2)
           ON CONFLICT (workspace_id, path) DO UPDATE SET content = EXCLUDED.content`,
          [c.id, Buffer.from(c.ws.system_prompt, 'utf8')],
        );
      }
    }
    return out;
  }

  return {
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

    async createImportLevel(input: { importId: string; depth: number }): Promise<LevelResult> {
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
        await db.query(
          `INSERT INTO org_import_items (import_id, key, depth, name, workspace_id, outcome)
           SELECT $1, * FROM unnest($2::text[], $3::int[], $4::text[], $5::uuid[], $6::text[])`,
          [
            input.importId,
            todo.map((ws) => ws.key),
            todo.map((ws) => ws.depth),
            todo.map((ws) => ws.name),
            todo.map((ws) => items.get(ws.key)?.id ?? null),
            todo.map((ws) => items.get(ws.key)?.outcome ?? 'not_spawned'),
          ],
        );
      });
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
