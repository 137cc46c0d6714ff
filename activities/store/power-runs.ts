// A pause or resume run's rows, selected in Postgres by the run that claimed them. The claim records one
// event per row keyed `<runId>:<tag>:<id>` (store/power.ts), which already marks the row as this run's,
// so no column is needed (unlike the delete cascade's delete_run_id): the walk of the root's subtree
// keeps only rows with the run's event. The workflow then carries counts and pages of ids, bounded
// whatever the tree's size; claimPause/claimResume (every row in one result) stay for runs started
// before this, whose histories replay against them.
import type { Pool } from 'pg';
import type { WorkspaceStatus } from '../../domain/vocabulary';
import { SUBTREE_CTE, type InTransaction } from './db';
import { NEEDS_COMPUTE_STOP } from './delete-runs';
import { PAUSED_TAG, pauseSubtree, RESUMED_TAG, resumeSubtree } from './power';

export interface PauseRunCount {
  total: number;
  computeTotal: number;
}

/** Where a resume's paging stands: rows come parents first (by depth, then id). */
export interface ResumeCursor {
  depth: number;
  id: string;
}

export interface ResumeRunPage {
  ids: string[];
  /** The cursor after this page (null when the page is empty). */
  last: ResumeCursor | null;
}

/** The rows of $1's subtree that carry run $2's event of tag $3 (the FROM/WHERE of every query here). */
const RUN_ROWS = `tree JOIN workspaces w ON w.id = tree.id
  WHERE EXISTS (SELECT 1 FROM structure_events e WHERE e.dedupe_key = $2 || ':' || $3 || ':' || w.id::text)`;

export function createPowerRunStore(pool: Pool, inTransaction: InTransaction) {
  return {
    /**
     * claimPause's transaction answering counts only. Idempotent: a retry whose first attempt committed
     * claims nothing more and counts the same rows by the run's events.
     */
    async claimPauseRun(rootId: string, runId: string): Promise<PauseRunCount> {
      return inTransaction(async (db) => {
        await pauseSubtree(db, rootId, runId);
        const { rows } = await db.query<{ total: number; compute_total: number }>(
          `${SUBTREE_CTE}
           SELECT count(*)::int AS total, (count(*) FILTER (WHERE ${NEEDS_COMPUTE_STOP}))::int AS compute_total
             FROM ${RUN_ROWS} AND w.status = 'paused'`,
          [rootId, runId, PAUSED_TAG],
        );
        return { total: rows[0]?.total ?? 0, computeTotal: rows[0]?.compute_total ?? 0 };
      });
    },

    /**
     * The next page (by id, after `after`) of the rows this pause run claimed that are still paused (a
     * delete or a resume meanwhile takes a row out); with computeOnly, those whose compute must stop.
     */
    async pauseRunPage(rootId: string, runId: string, after: string | null, limit: number, computeOnly: boolean): Promise<string[]> {
      const { rows } = await pool.query<{ id: string }>(
        `${SUBTREE_CTE}
         SELECT w.id FROM ${RUN_ROWS} AND w.status = 'paused' AND ($4::uuid IS NULL OR w.id > $4::uuid)
            AND (NOT $6::boolean OR ${NEEDS_COMPUTE_STOP})
          ORDER BY w.id LIMIT $5`,
        [rootId, runId, PAUSED_TAG, after, limit, computeOnly],
      );
      return rows.map((r) => r.id);
    },

    /** claimResume's transaction answering the count only (idempotent as claimPauseRun). */
    async claimResumeRun(rootId: string, runId: string): Promise<number> {
      return inTransaction(async (db) => {
        await resumeSubtree(db, rootId, runId);
        const { rows } = await db.query<{ total: number }>(
          `${SUBTREE_CTE} SELECT count(*)::int AS total FROM ${RUN_ROWS} AND w.status = 'provisioning'`,
          [rootId, runId, RESUMED_TAG],
        );
        return rows[0]?.total ?? 0;
      });
    },

    /**
     * The next page (by depth, then id, after the cursor) of the rows this resume run claimed. Rows not
     * reached yet have had no provision from this run, so a status other than provisioning means
     * someone else took them: removed or paused again ones are left out (a provision would refuse
     * them); others (failed by the stuck-provision sweep, say) still get their provision, as the
     * id-list path gave every claimed row one.
     */
    async resumeRunPage(rootId: string, runId: string, after: ResumeCursor | null, limit: number): Promise<ResumeRunPage> {
      const excluded: WorkspaceStatus[] = ['removed', 'paused'];
      const { rows } = await pool.query<{ id: string; depth: number }>(
        `${SUBTREE_CTE}
         SELECT w.id, tree.depth FROM ${RUN_ROWS} AND w.status <> ALL($4::text[])
            AND ($5::int IS NULL OR (tree.depth, w.id) > ($5::int, $6::uuid))
          ORDER BY tree.depth, w.id LIMIT $7`,
        [rootId, runId, RESUMED_TAG, excluded, after?.depth ?? null, after?.id ?? null, limit],
      );
      const tail = rows[rows.length - 1];
      return { ids: rows.map((r) => r.id), last: tail ? { depth: tail.depth, id: tail.id } : null };
    },
  };
}
