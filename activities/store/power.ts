// The power aggregate (SPEC-ADDENDUM A10): pause and resume of a subtree, hibernation and wake of one
// workspace, and the idle monitor's candidates. Every claim is one transaction that changes the
// status, revokes what must be revoked and records the event of each row, so a claim and its events
// never exist one without the other. Claims are idempotent per workflow run: a retried activity whose
// first attempt committed answers the same set, found by the run's event dedupe keys.
import type { Pool } from 'pg';
import { EVENTS, type ComputeKind, type Runtime, type WorkspaceStatus } from '../../domain/vocabulary';
import { eventNotice, SUBTREE_CTE, type InTransaction } from './db';

/** A workspace a pause or resume claimed: what the workflow needs to stop or provision it. */
export interface ClaimedWorkspace {
  id: string;
  compute: ComputeKind;
  runtime: Runtime;
  instance_id: string | null;
  depth: number;
}

export type HibernateClaim =
  | { claimed: true; previous: 'online' | 'degraded' }
  | { claimed: false; status: WorkspaceStatus | null; active_tasks: number };

export type WakeOutcome = 'woken' | 'missing' | 'removed' | 'hibernating' | 'not_hibernated';

/** Statuses a pause leaves alone: gone, or paused already. */
const NOT_PAUSABLE = `('removed', 'paused')`;

/** The middle part of a claim's event dedupe key `<runId>:<tag>:<id>`, the run's mark on each row. */
export const PAUSED_TAG = 'paused';
export const RESUMED_TAG = 'resumed';

/**
 * The claim statements of a pause, inside the caller's transaction: the root and every non-removed,
 * non-paused descendant become `paused` with url '', their live tokens revoked (the agents cannot
 * register or heartbeat again) and one WORKSPACE_PAUSED {name} each, keyed `<runId>:paused:<id>`: that
 * event is the run's mark on the row, by which every later step finds it. Nothing when the root
 * itself is removed or paused.
 */
export async function pauseSubtree(db: Pick<Pool, 'query'>, rootId: string, runId: string): Promise<void> {
  const root = await db.query<{ status: WorkspaceStatus }>('SELECT status FROM workspaces WHERE id = $1 FOR UPDATE', [rootId]);
  const rootStatus = root.rows[0]?.status;
  if (!rootStatus || rootStatus === 'removed' || rootStatus === 'paused') return;
  const { rows } = await db.query<{ id: string; name: string }>(
    `${SUBTREE_CTE}
     UPDATE workspaces w SET status = 'paused', url = '', active_tasks = 0, current_task = '',
            provision_deadline_at = NULL, updated_at = now()
       FROM tree WHERE w.id = tree.id AND w.status NOT IN ${NOT_PAUSABLE}
     RETURNING w.id, w.name`,
    [rootId],
  );
  const ids = rows.map((r) => r.id);
  await db.query('UPDATE workspace_auth_tokens SET revoked_at = now() WHERE workspace_id = ANY($1::uuid[]) AND revoked_at IS NULL', [ids]);
  await db.query(
    `SELECT record_workspace_event($1, u.id, jsonb_build_object('name', u.name), $2 || ':' || $3 || ':' || u.id::text)
       FROM unnest($4::uuid[], $5::text[]) AS u(id, name)`,
    [EVENTS.workspacePaused, runId, PAUSED_TAG, ids, rows.map((r) => r.name)],
  );
}

/**
 * The claim statements of a resume, inside the caller's transaction: the root (if paused and its
 * parent is not) and every paused descendant become `provisioning` with WORKSPACE_PROVISIONING {name,
 * tier, runtime}, keyed `<runId>:resumed:<id>` (the run's mark on the row).
 */
export async function resumeSubtree(db: Pick<Pool, 'query'>, rootId: string, runId: string): Promise<void> {
  const root = await db.query<{ status: WorkspaceStatus; parent_status: WorkspaceStatus | null }>(
    `SELECT w.status, p.status AS parent_status FROM workspaces w LEFT JOIN workspaces p ON p.id = w.parent_id
      WHERE w.id = $1 FOR UPDATE OF w`,
    [rootId],
  );
  const r = root.rows[0];
  if (!r || r.status !== 'paused' || r.parent_status === 'paused') return;
  const { rows } = await db.query<{ id: string; name: string; tier: number; runtime: string }>(
    `${SUBTREE_CTE}
     UPDATE workspaces w SET status = 'provisioning', url = '', last_sample_error = NULL,
            provision_started_at = now(), provision_deadline_at = NULL, updated_at = now()
       FROM tree WHERE w.id = tree.id AND w.status = 'paused'
     RETURNING w.id, w.name, w.tier, w.runtime`,
    [rootId],
  );
  await db.query(
    `SELECT record_workspace_event($1, u.id, jsonb_build_object('name', u.name, 'tier', u.tier, 'runtime', u.runtime),
                                   $2 || ':' || $3 || ':' || u.id::text)
       FROM unnest($4::uuid[], $5::text[], $6::int[], $7::text[]) AS u(id, name, tier, runtime)`,
    [EVENTS.workspaceProvisioning, runId, RESUMED_TAG, rows.map((x) => x.id), rows.map((x) => x.name), rows.map((x) => x.tier), rows.map((x) => x.runtime)],
  );
}

export function createPowerStore(pool: Pool, inTransaction: InTransaction) {
  /** The rows of `rootId`'s subtree whose event `<runId>:<tag>:<id>` exists: what this run claimed. */
  async function claimedByRun(db: Pick<Pool, 'query'>, rootId: string, runId: string, tag: string, status: WorkspaceStatus): Promise<ClaimedWorkspace[]> {
    const { rows } = await db.query<ClaimedWorkspace>(
      `${SUBTREE_CTE}
       SELECT w.id, w.compute, w.runtime, w.instance_id, tree.depth FROM tree JOIN workspaces w ON w.id = tree.id
        WHERE w.status = $4
          AND EXISTS (SELECT 1 FROM structure_events e WHERE e.dedupe_key = $2 || ':' || $3 || ':' || w.id::text)
        ORDER BY tree.depth, w.id`,
      [rootId, runId, tag, status],
    );
    return rows;
  }

  return {
    /**
     * A10.1 step (a), pauseSubtree in one transaction. A concurrent delete is serialized by the row
     * locks: whichever commits second sees the other's status (a removed row is never paused, a paused
     * row is then removed). Answers every row this run paused (runs before bounded payloads; see
     * store/power-runs.ts for the counted claim).
     */
    async claimPause(rootId: string, runId: string): Promise<ClaimedWorkspace[]> {
      return inTransaction(async (db) => {
        await pauseSubtree(db, rootId, runId);
        return claimedByRun(db, rootId, runId, PAUSED_TAG, 'paused');
      });
    },

    /**
     * A10.2, resumeSubtree in one transaction. Descendants under a non-paused node are resumed too: "it
     * and its paused descendants" (a paused row never has a paused-parent problem afterwards, since
     * every paused ancestor inside the subtree is resumed).
     */
    async claimResume(rootId: string, runId: string): Promise<ClaimedWorkspace[]> {
      return inTransaction(async (db) => {
        await resumeSubtree(db, rootId, runId);
        // Rows this run claimed that are still provisioning (a delete meanwhile removes them from the set).
        return claimedByRun(db, rootId, runId, RESUMED_TAG, 'provisioning');
      });
    },

    /** Compute kinds of the paused rows of a subtree: resume needs each one's provider (A10.2's 503). */
    async pausedComputeKinds(rootId: string): Promise<ComputeKind[]> {
      const { rows } = await pool.query<{ compute: ComputeKind }>(
        `${SUBTREE_CTE} SELECT DISTINCT w.compute FROM tree JOIN workspaces w ON w.id = tree.id WHERE w.status = 'paused'`,
        [rootId],
      );
      return rows.map((r) => r.compute);
    },

    /** A10.3: online/degraded → hibernating, unless the agent reports active tasks (and no force). */
    async claimHibernate(id: string, force: boolean): Promise<HibernateClaim> {
      const { rows } = await pool.query<{ previous: 'online' | 'degraded' }>(
        `UPDATE workspaces w SET status = 'hibernating', updated_at = now()
           FROM (SELECT id, status AS previous FROM workspaces WHERE id = $1 FOR UPDATE) old
          WHERE w.id = old.id AND w.status IN ('online', 'degraded') AND ($2::boolean OR w.active_tasks = 0)
          RETURNING old.previous`,
        [id, force],
      );
      if (rows[0]) return { claimed: true, previous: rows[0].previous };
      const now = await pool.query<{ status: WorkspaceStatus; active_tasks: number }>('SELECT status, active_tasks FROM workspaces WHERE id = $1', [id]);
      return { claimed: false, status: now.rows[0]?.status ?? null, active_tasks: now.rows[0]?.active_tasks ?? 0 };
    },

    /** The stop failed: the workspace runs on as it was (only if nothing else moved it meanwhile). */
    async revertHibernate(id: string, previous: 'online' | 'degraded'): Promise<boolean> {
      const res = await pool.query(`UPDATE workspaces SET status = $2, updated_at = now() WHERE id = $1 AND status = 'hibernating'`, [id, previous]);
      return res.rowCount === 1;
    },

    /**
     * The compute is stopped: `hibernated`, url '', no active task, tokens revoked and
     * WORKSPACE_HIBERNATED, in one transaction, only while the row is still `hibernating` (a pause or a
     * delete that took it over meanwhile wins).
     */
    async markHibernated(id: string, runId: string): Promise<boolean> {
      return inTransaction(async (db) => {
        const { rows } = await db.query<{ name: string }>(
          `UPDATE workspaces SET status = 'hibernated', url = '', active_tasks = 0, current_task = '', updated_at = now()
            WHERE id = $1 AND status = 'hibernating' RETURNING name`,
          [id],
        );
        if (!rows[0]) {
          // A retry of a committed attempt: the event of this run says it was this run's.
          const done = await db.query(`SELECT 1 FROM structure_events WHERE dedupe_key = $1`, [`${runId}:hibernated:${id}`]);
          return (done.rowCount ?? 0) > 0;
        }
        await db.query('UPDATE workspace_auth_tokens SET revoked_at = now() WHERE workspace_id = $1 AND revoked_at IS NULL', [id]);
        await db.query(`SELECT record_workspace_event($1, $2, jsonb_build_object('name', $3::text), $4)`, [
          EVENTS.workspaceHibernated, id, rows[0].name, `${runId}:hibernated:${id}`,
        ]);
        return true;
      });
    },

    /**
     * A10.5 wake: hibernated → provisioning with WORKSPACE_PROVISIONING {name, tier, runtime}; the caller
     * then starts the provision. The outcome says why nothing was claimed.
     */
    async claimWake(id: string): Promise<WakeOutcome> {
      const { rows } = await pool.query<{ outcome: WakeOutcome }>(
        `WITH old AS (SELECT id, status FROM workspaces WHERE id = $1 FOR UPDATE),
         woken AS (
           UPDATE workspaces w SET status = 'provisioning', url = '', last_sample_error = NULL,
                  provision_started_at = now(), provision_deadline_at = NULL, updated_at = now()
             FROM old WHERE w.id = old.id AND old.status = 'hibernated'
           RETURNING w.id, w.name, w.tier, w.runtime),
         inserted AS (
           INSERT INTO structure_events (event_type, workspace_id, payload)
           SELECT $2, id, jsonb_build_object('name', name, 'tier', tier, 'runtime', runtime) FROM woken RETURNING 1),
         notified AS (SELECT pg_notify('molecule_events', $3) FROM inserted)
         SELECT CASE WHEN (SELECT count(*) FROM notified) > 0 THEN 'woken'
                     WHEN NOT EXISTS (SELECT 1 FROM old) THEN 'missing'
                     WHEN (SELECT status FROM old) = 'removed' THEN 'removed'
                     WHEN (SELECT status FROM old) = 'hibernating' THEN 'hibernating'
                     ELSE 'not_hibernated' END AS outcome`,
        [id, EVENTS.workspaceProvisioning, eventNotice(EVENTS.workspaceProvisioning, id, null)],
      );
      return rows[0].outcome;
    },

    /**
     * A10.4: platform-run workspaces that opted in (hibernation_idle_minutes > 0), online or degraded,
     * with no active task since longer than their idle minutes (idle_since, migration 016: a live agent
     * heartbeats all along, so its last heartbeat says nothing about idleness). Idlest first, bounded.
     */
    async idleWorkspaces(limit: number): Promise<string[]> {
      const { rows } = await pool.query<{ id: string }>(
        `SELECT id FROM workspaces
          WHERE hibernation_idle_minutes > 0 AND status IN ('online', 'degraded') AND active_tasks = 0
            AND runtime <> 'external' AND compute <> 'none'
            AND idle_since < now() - make_interval(mins => hibernation_idle_minutes)
          ORDER BY idle_since, id LIMIT $1`,
        [limit],
      );
      return rows.map((r) => r.id);
    },
  };
}
