// A delete cascade's rows, selected in Postgres by the run that marked them (workspaces.delete_run_id,
// migration 018). The workflow then carries only counts and pages of ids, so its payloads stay bounded
// whatever the tree's size; the older id-list functions (markSubtreeRemoved, purgeWorkspaces) stay for
// runs started before this (their histories replay against them).
import type { Pool } from 'pg';
import { EVENTS } from '../../domain/vocabulary';
import { SUBTREE_CTE, type InTransaction } from './db';

/** Rows whose compute a delete must stop: every Docker workspace, EC2 ones with an instance. */
const NEEDS_COMPUTE_STOP = `(compute = 'docker' OR (compute = 'ec2' AND instance_id IS NOT NULL))`;

export interface MarkedSubtree {
  total: number;
  computeTotal: number;
}

export function createDeleteRunStore(pool: Pool, inTransaction: InTransaction) {
  return {
    /**
     * markSubtreeRemoved's steps (status first, then layouts, tokens, schedules, in one transaction),
     * with every row marked as this run's. Idempotent: a retry marks (and counts) the same subtree.
     */
    async markSubtreeForDelete(rootId: string, deleteRunId: string): Promise<MarkedSubtree> {
      return inTransaction(async (db) => {
        const { rows } = await db.query<{ total: number; compute_total: number }>(
          `${SUBTREE_CTE},
           marked AS (
             UPDATE workspaces w SET status = 'removed', removed_at = COALESCE(w.removed_at, now()), updated_at = now(), delete_run_id = $2
               FROM tree WHERE w.id = tree.id
             RETURNING w.compute, w.instance_id)
           SELECT count(*)::int AS total, (count(*) FILTER (WHERE ${NEEDS_COMPUTE_STOP}))::int AS compute_total FROM marked`,
          [rootId, deleteRunId],
        );
        const mine = 'SELECT id FROM workspaces WHERE delete_run_id = $1';
        await db.query(`DELETE FROM canvas_layouts WHERE workspace_id IN (${mine})`, [deleteRunId]);
        await db.query(`UPDATE workspace_auth_tokens SET revoked_at = now() WHERE workspace_id IN (${mine}) AND revoked_at IS NULL`, [deleteRunId]);
        await db.query(`UPDATE workspace_schedules SET enabled = false WHERE workspace_id IN (${mine}) AND enabled`, [deleteRunId]);
        return { total: rows[0]?.total ?? 0, computeTotal: rows[0]?.compute_total ?? 0 };
      });
    },

    /** The next page (by id, after `after`) of this run's workspaces whose compute must be stopped. */
    async deleteRunComputePage(deleteRunId: string, after: string | null, limit: number): Promise<string[]> {
      const { rows } = await pool.query<{ id: string }>(
        `SELECT id FROM workspaces WHERE delete_run_id = $1 AND ${NEEDS_COMPUTE_STOP} AND ($2::uuid IS NULL OR id > $2::uuid)
          ORDER BY id LIMIT $3`,
        [deleteRunId, after, limit],
      );
      return rows.map((r) => r.id);
    },

    /** WORKSPACE_REMOVED for every row of the run, with the dedupe keys the id-list broadcast used. */
    async broadcastDeleteRun(deleteRunId: string): Promise<number> {
      const { rowCount } = await pool.query(
        `INSERT INTO structure_events (event_type, workspace_id, payload, dedupe_key)
         SELECT $1, id, '{}'::jsonb, $2 || ':removed:' || id FROM workspaces WHERE delete_run_id = $2
         ON CONFLICT (dedupe_key) DO NOTHING`,
        [EVENTS.workspaceRemoved, deleteRunId],
      );
      const count = rowCount ?? 0;
      if (count > 0) await pool.query('SELECT pg_notify($1, $2)', ['molecule_events', JSON.stringify({ type: EVENTS.workspaceRemoved, count })]);
      return count;
    },

    /** Rows whose compute did not stop leave the run: purge keeps them (removed) for the sweeper. */
    async releaseFromDeleteRun(deleteRunId: string, ids: string[]): Promise<void> {
      await pool.query('UPDATE workspaces SET delete_run_id = NULL WHERE delete_run_id = $1 AND id = ANY($2::uuid[])', [deleteRunId, ids]);
    },

    /** Hard-deletes the run's rows (and their dependents); children outside the run are detached. */
    async purgeDeleteRun(deleteRunId: string): Promise<number> {
      return inTransaction(async (db) => {
        await db.query(
          `UPDATE workspaces SET parent_id = NULL
            WHERE parent_id IN (SELECT id FROM workspaces WHERE delete_run_id = $1) AND delete_run_id IS DISTINCT FROM $1`,
          [deleteRunId],
        );
        const res = await db.query(`DELETE FROM workspaces WHERE delete_run_id = $1 AND status = 'removed'`, [deleteRunId]);
        return res.rowCount ?? 0;
      });
    },
  };
}
