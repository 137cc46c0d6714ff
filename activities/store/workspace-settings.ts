// What an operator changes on a workspace after it exists (SPEC-ADDENDUM A12.1-2): names, tier,
// runtime, its place in the tree, canvas and host settings, and its budget. A re-parent keeps the tree
// acyclic: re-parents are serialized by one transaction-level advisory lock, so two moves that would
// each be fine alone (A under B, B under A) cannot both commit.
import type { Pool, PoolClient } from 'pg';
import { EVENTS, type Runtime } from '../../domain/vocabulary';
import { eventNotice, SUBTREE_CTE, type InTransaction } from './db';

/** Arbitrary constant naming the re-parent lock among advisory locks (the migrator uses 7_283_514). */
const REPARENT_LOCK = 7_283_612;

export interface WorkspacePatch {
  name?: string;
  role?: string;
  runtime?: Runtime;
  tier?: number;
  /** undefined: unchanged; null: becomes a root. */
  parentId?: string | null;
  collapsed?: boolean;
  /** undefined: unchanged; null: cleared. */
  workspaceDir?: string | null;
  position?: { x: number; y: number };
  /** A10.4: 0 = never hibernated by the idle monitor. */
  hibernationIdleMinutes?: number;
}

export type PatchOutcome =
  | { outcome: 'updated'; fields: string[] }
  | { outcome: 'missing' | 'removed' | 'parent_missing' | 'parent_cycle' | 'runtime_compute' };

export interface BudgetState {
  budget_limit: number | null;
  monthly_spend: number;
}

/** Column of each plain field a patch may set. Names are fixed here, never taken from the request. */
const COLUMN_OF = {
  name: 'name', role: 'role', runtime: 'runtime', tier: 'tier', parentId: 'parent_id', collapsed: 'collapsed', workspaceDir: 'workspace_dir',
  hibernationIdleMinutes: 'hibernation_idle_minutes',
} as const;
/** The API's name of each field, for the event payload and the activity entry. */
const API_NAME: Record<keyof WorkspacePatch, string> = {
  name: 'name', role: 'role', runtime: 'runtime', tier: 'tier', parentId: 'parent_id', collapsed: 'collapsed', workspaceDir: 'workspace_dir', position: 'x,y',
  hibernationIdleMinutes: 'hibernation_idle_minutes',
};

async function checkParent(db: PoolClient, id: string, parentId: string): Promise<'ok' | 'parent_missing' | 'parent_cycle'> {
  // FOR SHARE: a delete that is marking the parent removed finishes first, and then we see it removed.
  const parent = await db.query<{ status: string }>('SELECT status FROM workspaces WHERE id = $1 FOR SHARE', [parentId]);
  if (!parent.rows[0] || parent.rows[0].status === 'removed') return 'parent_missing';
  // The new parent may not be the workspace itself or one of its descendants.
  const inside = await db.query(`${SUBTREE_CTE} SELECT 1 FROM tree WHERE id = $2`, [id, parentId]);
  return (inside.rowCount ?? 0) > 0 ? 'parent_cycle' : 'ok';
}

export function createWorkspaceSettingsStore(pool: Pool, inTransaction: InTransaction) {
  return {
    /**
     * Applies a patch in one transaction with its WORKSPACE_UPDATED event and a `canvas` activity entry
     * (both only when something was given). Switching between `external` and a runtime with compute is
     * refused: the workspace's compute would no longer match its runtime.
     */
    async patchWorkspace(id: string, patch: WorkspacePatch): Promise<PatchOutcome> {
      return inTransaction(async (db): Promise<PatchOutcome> => {
        if (patch.parentId !== undefined) await db.query('SELECT pg_advisory_xact_lock($1)', [REPARENT_LOCK]);
        const current = await db.query<{ status: string; compute: string }>('SELECT status, compute FROM workspaces WHERE id = $1 FOR UPDATE', [id]);
        const row = current.rows[0];
        if (!row) return { outcome: 'missing' };
        if (row.status === 'removed') return { outcome: 'removed' };
        if (patch.runtime !== undefined && (patch.runtime === 'external') !== (row.compute === 'none')) return { outcome: 'runtime_compute' };
        if (patch.parentId) {
          const parent = await checkParent(db, id, patch.parentId);
          if (parent !== 'ok') return { outcome: parent };
        }
        const sets: string[] = [];
        const values: unknown[] = [id];
        for (const key of Object.keys(COLUMN_OF) as Array<keyof typeof COLUMN_OF>) {
          if (patch[key] === undefined) continue;
          values.push(patch[key]);
          sets.push(`${COLUMN_OF[key]} = $${values.length}`);
        }
        if (sets.length > 0) await db.query(`UPDATE workspaces SET ${sets.join(', ')}, updated_at = now() WHERE id = $1`, values);
        if (patch.position) {
          await db.query(
            `INSERT INTO canvas_layouts (workspace_id, x, y) VALUES ($1, $2, $3)
             ON CONFLICT (workspace_id) DO UPDATE SET x = EXCLUDED.x, y = EXCLUDED.y, updated_at = now()`,
            [id, patch.position.x, patch.position.y],
          );
        }
        const fields = (Object.keys(API_NAME) as Array<keyof WorkspacePatch>).filter((k) => patch[k] !== undefined).map((k) => API_NAME[k]);
        if (fields.length === 0) return { outcome: 'updated', fields };
        const payload = { fields, ...(patch.parentId !== undefined ? { parent_id: patch.parentId } : {}) };
        await db.query(
          `WITH inserted AS (INSERT INTO structure_events (event_type, workspace_id, payload) VALUES ($1, $2, $3) RETURNING 1)
           SELECT pg_notify('molecule_events', $4) FROM inserted`,
          [EVENTS.workspaceUpdated, id, JSON.stringify(payload), eventNotice(EVENTS.workspaceUpdated, id, null)],
        );
        await db.query(
          `INSERT INTO activity_logs (workspace_id, action, message, details, source, source_id, target_id)
           VALUES ($1, 'workspace.updated', $2, $3, 'canvas', $1, $4)`,
          [id, `updated ${fields.join(', ')}`, JSON.stringify(payload), patch.parentId ?? null],
        );
        return { outcome: 'updated', fields };
      });
    },

    /** Budget of a live workspace; null when it is missing or removed (A12.2 answers 404 for both). */
    async getBudget(id: string): Promise<BudgetState | null> {
      const { rows } = await pool.query<BudgetState>(
        `SELECT budget_limit::float8 AS budget_limit, monthly_spend::float8 AS monthly_spend FROM workspaces WHERE id = $1 AND status <> 'removed'`,
        [id],
      );
      return rows[0] ?? null;
    },

    async setBudget(id: string, budgetLimit: number | null): Promise<BudgetState | null> {
      const { rows } = await pool.query<BudgetState>(
        `WITH updated AS (
           UPDATE workspaces SET budget_limit = $2, updated_at = now() WHERE id = $1 AND status <> 'removed'
           RETURNING budget_limit::float8 AS budget_limit, monthly_spend::float8 AS monthly_spend),
         logged AS (
           INSERT INTO activity_logs (workspace_id, action, message, details, source)
           SELECT $1, 'budget.updated', 'budget limit set', jsonb_build_object('budget_limit', budget_limit), 'canvas' FROM updated)
         SELECT budget_limit, monthly_spend FROM updated`,
        [id, budgetLimit],
      );
      return rows[0] ?? null;
    },
  };
}
