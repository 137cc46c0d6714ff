// Activities of the org import. The template snapshot lives in org_imports (not in workflow history:
// a 1,000-workspace tree would bloat it); each level is created in ONE transaction, parent-first, and
// recorded in org_import_items, so a re-run of the activity finds its rows instead of duplicating them.
import { ApplicationFailure } from '@temporalio/activity';
import type { PoolClient } from 'pg';
import { flattenTemplate, type FlatWorkspace, type OrgTemplate } from '../domain/org-template';
import { EVENTS, type ComputeKind, type ImportItemOutcome, type OrgImportMode } from '../domain/vocabulary';
import type { Config } from '../config';
import { hashToken, newAuthToken, newInboundSecret, type SecretBox } from './crypto';
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
  /** Workspaces of this level that need compute provisioned (new, or existing and failed). */
  toProvision: Array<{ key: string; workspaceId: string }>;
}

export interface ImportCounts {
  created: number;
  skipped: number;
  failed: number;
  reconcileRemoved: number;
}

/** Serializes the name-dedupe check across concurrent imports (same constant everywhere). */
const IMPORT_SCOPE_LOCK = 7_283_515;

function computeFor(ws: FlatWorkspace, config: Config): ComputeKind {
  if (ws.runtime === 'external') return 'none';
  return ws.compute ?? config.DEFAULT_COMPUTE;
}

function requiredNames(ws: FlatWorkspace): string[] {
  // Strict names only: an any_of group cannot be enforced per container (preflight checked it).
  return (ws.required_env ?? []).filter((e): e is string => typeof e === 'string');
}

export function createImportActivities({ store, box, config }: ImportActivityDeps) {
  const pool = store.pool;

  async function loadTemplate(importId: string): Promise<{ template: OrgTemplate; mode: OrgImportMode }> {
    const { rows } = await pool.query<{ template: OrgTemplate; mode: OrgImportMode }>('SELECT template, mode FROM org_imports WHERE id = $1', [importId]);
    if (!rows[0]) throw ApplicationFailure.nonRetryable('import not found', 'ImportNotFound');
    return rows[0];
  }

  async function createOne(db: PoolClient, importId: string, ws: FlatWorkspace, parentId: string | null, orgEnv: Record<string, string>): Promise<{ id: string; outcome: ImportItemOutcome }> {
    const existing = await db.query<{ id: string }>(
      `SELECT id FROM workspaces WHERE parent_id IS NOT DISTINCT FROM $1 AND name = $2 AND status <> 'removed' ORDER BY created_at LIMIT 1`,
      [parentId, ws.name],
    );
    if (existing.rows[0]) return { id: existing.rows[0].id, outcome: 'existing' };
    const compute = computeFor(ws, config);
    const row = await store.createWorkspace(
      {
        name: ws.name,
        role: ws.role ?? '',
        tier: ws.tier ?? 1,
        runtime: ws.runtime,
        compute,
        parentId,
        deliveryMode: ws.runtime === 'external' ? 'poll' : 'push',
        updateTier: 'production',
        model: ws.model ?? null,
        budgetLimit: null,
        maxConcurrentTasks: ws.max_concurrent_tasks ?? 1,
        provisionTimeoutSeconds: null,
        requiredEnv: requiredNames(ws),
        orgImportId: importId,
      },
      db,
    );
    if (ws.canvas) {
      await db.query('INSERT INTO canvas_layouts (workspace_id, x, y) VALUES ($1, $2, $3) ON CONFLICT (workspace_id) DO NOTHING', [row.id, ws.canvas.x, ws.canvas.y]);
    }
    for (const s of ws.schedules ?? []) {
      await db.query('INSERT INTO workspace_schedules (workspace_id, cron, prompt, enabled) VALUES ($1, $2, $3, $4)', [row.id, s.cron, s.prompt, s.enabled ?? true]);
    }
    // Env layering: org .env (defaults.env) < workspace .env; stored as encrypted workspace secrets.
    for (const [name, value] of Object.entries({ ...orgEnv, ...(ws.env ?? {}) })) {
      await db.query('INSERT INTO workspace_secrets (workspace_id, name, value_enc) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [row.id, name, box.seal(value)]);
    }
    if (compute === 'none') {
      // External agents need no compute: mint their credentials here, in the same transaction.
      await db.query('INSERT INTO workspace_auth_tokens (workspace_id, token_hash) VALUES ($1, $2)', [row.id, hashToken(newAuthToken())]);
      await db.query('UPDATE workspaces SET platform_inbound_secret = $2 WHERE id = $1', [row.id, box.seal(newInboundSecret())]);
    }
    return { id: row.id, outcome: 'created' };
  }

  return {
    /** Records org.import.started (only now: the template parsed before the import row existed). */
    async beginImport(input: { importId: string }): Promise<ImportPlan> {
      const { template, mode } = await loadTemplate(input.importId);
      const flat = flattenTemplate(template);
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
      const { template } = await loadTemplate(input.importId);
      const level = flattenTemplate(template).filter((w) => w.depth === input.depth);
      await store.inTransaction(async (db) => {
        await db.query('SELECT pg_advisory_xact_lock($1)', [IMPORT_SCOPE_LOCK]);
        const done = await db.query<{ key: string }>('SELECT key FROM org_import_items WHERE import_id = $1 AND depth = $2', [input.importId, input.depth]);
        const doneKeys = new Set(done.rows.map((r) => r.key));
        const parents = await db.query<{ key: string; workspace_id: string | null }>(
          'SELECT key, workspace_id FROM org_import_items WHERE import_id = $1 AND depth = $2',
          [input.importId, input.depth - 1],
        );
        const parentIds = new Map(parents.rows.map((r) => [r.key, r.workspace_id]));
        for (const ws of level) {
          if (doneKeys.has(ws.key)) continue;
          let item: { id: string | null; outcome: ImportItemOutcome };
          if (!ws.spawn) item = { id: null, outcome: 'not_spawned' }; // no side effects, but counted
          else item = await createOne(db, input.importId, ws, ws.parentKey ? (parentIds.get(ws.parentKey) ?? null) : null, template.defaults.env ?? {});
          await db.query(
            'INSERT INTO org_import_items (import_id, key, depth, name, workspace_id, outcome) VALUES ($1, $2, $3, $4, $5, $6)',
            [input.importId, ws.key, ws.depth, ws.name, item.id, item.outcome],
          );
        }
      });
      // Derived from the rows, so a re-run of this activity answers exactly as the first run did.
      const { rows } = await pool.query<{ key: string; outcome: ImportItemOutcome; workspace_id: string | null; compute: ComputeKind | null; status: string | null }>(
        `SELECT i.key, i.outcome, i.workspace_id, w.compute, w.status
           FROM org_import_items i LEFT JOIN workspaces w ON w.id = i.workspace_id
          WHERE i.import_id = $1 AND i.depth = $2 ORDER BY i.key`,
        [input.importId, input.depth],
      );
      const count = (o: ImportItemOutcome) => rows.filter((r) => r.outcome === o).length;
      return {
        created: count('created'),
        existing: count('existing'),
        notSpawned: count('not_spawned'),
        toProvision: rows
          .filter((r) => r.workspace_id && r.compute && r.compute !== 'none' && (r.status === 'provisioning' || r.status === 'failed' || r.status === 'offline'))
          .map((r) => ({ key: r.key, workspaceId: r.workspace_id as string })),
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
     * Reconcile targets (SPEC §5 plus the dropped-subtree rule): (a) online workspaces whose name is an
     * imported name but whose id is not in the import's result set ("zombies" left by reparenting);
     * (b) live children of imported workspaces that the template no longer has. Empty-set guards: no
     * imported names or no result ids → nothing is deleted.
     */
    async findReconcileTargets(input: { importId: string }): Promise<string[]> {
      const { rows: items } = await pool.query<{ name: string; workspace_id: string | null }>(
        `SELECT name, workspace_id FROM org_import_items WHERE import_id = $1 AND outcome <> 'not_spawned'`,
        [input.importId],
      );
      const { rows: allItems } = await pool.query<{ name: string }>('SELECT name FROM org_import_items WHERE import_id = $1', [input.importId]);
      const names = [...new Set(allItems.map((r) => r.name))];
      const resultIds = items.map((r) => r.workspace_id).filter((id): id is string => !!id);
      if (names.length === 0 || resultIds.length === 0) return [];
      const { rows } = await pool.query<{ id: string }>(
        `SELECT id FROM workspaces
          WHERE status <> 'removed' AND NOT (id = ANY($2::uuid[]))
            AND ((status = 'online' AND name = ANY($1::text[])) OR parent_id = ANY($2::uuid[]))
          ORDER BY id`,
        [names, resultIds],
      );
      return rows.map((r) => r.id);
    },

    async completeImport(input: { importId: string; mode: OrgImportMode; counts: ImportCounts; error: string | null; durationMs: number }): Promise<void> {
      const status = input.error || input.counts.failed > 0 ? 'failed' : 'completed';
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
        },
        dedupeKey: `${input.importId}:completed`,
      });
    },
  };
}

export type ImportActivities = ReturnType<typeof createImportActivities>;
