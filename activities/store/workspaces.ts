// The workspaces aggregate: rows, status transitions (each with its event in the same statement),
// compute references, and the subtree the delete cascade acts on. Every status write goes through
// setStatus(), which never moves a row out of `removed` (a racing register/heartbeat/provision must
// not resurrect a deleted workspace), nor out of `paused`/`hibernating`/`hibernated`: only resume and
// wake (store/power.ts) take a row out of those (a cancelled provision's compensation must not turn a
// paused workspace into `failed`).
import type { Pool } from 'pg';
import type { ComputeKind, DeliveryMode, EventName, Runtime, UpdateTier, WorkspaceOrigin, WorkspaceStatus } from '../../domain/vocabulary';
import { createdStatusFor } from '../../domain/workspace-defaults';
import { eventNotice, SUBTREE_CTE, type InTransaction, type Queryable } from './db';

export interface WorkspaceRow {
  id: string;
  name: string;
  role: string;
  tier: number;
  runtime: Runtime;
  compute: ComputeKind;
  parent_id: string | null;
  url: string | null;
  status: WorkspaceStatus;
  delivery_mode: DeliveryMode;
  update_tier: UpdateTier;
  model: string | null;
  instance_id: string | null;
  container_name: string | null;
  /**
   * A container of this workspace may exist under another name than containerName() (migration 020:
   * rows from before it); cleared once a provision's lookup has removed any.
   */
  may_have_older_container_names: boolean;
  last_sample_error: string | null;
  budget_limit: number | null;
  monthly_spend: number;
  max_concurrent_tasks: number;
  provision_timeout_seconds: number | null;
  required_env: string[];
  provision_started_at: Date | null;
  /** The provision run that owns the row (migration 004); null before any run began since. */
  provision_run_id: string | null;
  provision_run_started_at: Date | null;
  /** The one provision deadline (workflow timer, GET, sweeper), set when the run began. */
  provision_deadline_at: Date | null;
  /** The run whose token the agent registered with. */
  registered_run_id: string | null;
  last_heartbeat_at: Date | null;
  /** A10.4: the idle monitor hibernates it after this many minutes without a heartbeat; 0 = never (migration 014). */
  hibernation_idle_minutes: number;
  /** The agent's latest heartbeat report (A2.1, migration 011); see api/heartbeat-schema.ts. */
  active_tasks: number;
  current_task: string;
  error_rate: number | null;
  uptime_seconds: number | null;
  runtime_state: string;
  runtime_metadata: { capabilities?: Record<string, boolean>; idle_timeout_seconds?: number | null } | null;
  /** Provenance: `api`, or `import` with the org key and the id of the import that created it. */
  origin: WorkspaceOrigin;
  org_key: string | null;
  org_import_id: string | null;
  /** Canvas and host settings PATCH /workspaces/:id sets (migration 012); x/y null without a layout. */
  collapsed: boolean;
  workspace_dir: string | null;
  x: number | null;
  y: number | null;
  removed_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

/** Columns safe to show users: platform_inbound_secret is never selected into a WorkspaceRow. */
const COLUMNS = `id, name, role, tier, runtime, compute, parent_id, url, status, delivery_mode, update_tier, model,
  instance_id, container_name, may_have_older_container_names, last_sample_error, budget_limit::float8 AS budget_limit,
  monthly_spend::float8 AS monthly_spend, max_concurrent_tasks, provision_timeout_seconds,
  required_env, provision_started_at, provision_run_id, provision_run_started_at, provision_deadline_at,
  registered_run_id, last_heartbeat_at, origin, org_key, org_import_id, collapsed, workspace_dir,
  (SELECT l.x FROM canvas_layouts l WHERE l.workspace_id = workspaces.id) AS x,
  (SELECT l.y FROM canvas_layouts l WHERE l.workspace_id = workspaces.id) AS y,
  removed_at, created_at, updated_at,
  active_tasks, current_task, error_rate, uptime_seconds::float8 AS uptime_seconds, runtime_state, runtime_metadata,
  hibernation_idle_minutes`;

/** A page position of GET /workspaces: the last row's created_at (to the microsecond, UTC) and id. */
export interface ListPosition {
  createdAt: string;
  id: string;
}

export interface NewWorkspace {
  name: string;
  role: string;
  tier: number;
  runtime: Runtime;
  compute: ComputeKind;
  parentId: string | null;
  deliveryMode: DeliveryMode;
  updateTier: UpdateTier;
  model: string | null;
  budgetLimit: number | null;
  maxConcurrentTasks: number;
  provisionTimeoutSeconds: number | null;
  requiredEnv?: string[];
  orgImportId?: string | null;
  /** External only: where the agent already runs (A5.1); the row then starts online. */
  url?: string | null;
  /** A10.4; default 0 (never hibernated by the idle monitor). */
  hibernationIdleMinutes?: number;
}

export function createWorkspaceRows(pool: Pool, inTransaction: InTransaction) {
  async function getWorkspace(id: string, db: Queryable = pool): Promise<WorkspaceRow | null> {
    const { rows } = await db.query<WorkspaceRow>(`SELECT ${COLUMNS} FROM workspaces WHERE id = $1`, [id]);
    return rows[0] ?? null;
  }

  return {
    getWorkspace,

    async createWorkspace(input: NewWorkspace, db: Queryable = pool): Promise<WorkspaceRow> {
      const { rows } = await db.query<WorkspaceRow>(
        `INSERT INTO workspaces (name, role, tier, runtime, compute, parent_id, delivery_mode, update_tier, model,
           budget_limit, max_concurrent_tasks, provision_timeout_seconds, org_import_id, status, required_env, url,
           hibernation_idle_minutes)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17) RETURNING ${COLUMNS}`,
        [
          input.name, input.role, input.tier, input.runtime, input.compute, input.parentId, input.deliveryMode,
          input.updateTier, input.model, input.budgetLimit, input.maxConcurrentTasks, input.provisionTimeoutSeconds,
          input.orgImportId ?? null, createdStatusFor(input.compute, input.url ?? null),
          input.requiredEnv ?? [], input.url ?? null, input.hibernationIdleMinutes ?? 0,
        ],
      );
      return rows[0];
    },

    /**
     * One page in (created_at, id) order after `after`; `next` is the last row's position when more rows
     * follow (one extra row is read to know), so a caller can walk every row however many there are.
     */
    async listWorkspaces(opts: {
      includeRemoved: boolean;
      limit: number;
      parentId?: string;
      after?: ListPosition | null;
    }): Promise<{ rows: WorkspaceRow[]; next: ListPosition | null }> {
      const { rows } = await pool.query<WorkspaceRow & { position_ts: string }>(
        `SELECT ${COLUMNS}, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS position_ts FROM workspaces
          WHERE ($1::boolean OR status <> 'removed') AND ($2::uuid IS NULL OR parent_id = $2)
            AND ($4::timestamptz IS NULL OR (created_at, id) > ($4::timestamptz, $5::uuid))
          ORDER BY created_at, id LIMIT $3 + 1`,
        [opts.includeRemoved, opts.parentId ?? null, opts.limit, opts.after?.createdAt ?? null, opts.after?.id ?? null],
      );
      const page = rows.slice(0, opts.limit);
      const last = page[page.length - 1];
      const next = rows.length > opts.limit && last ? { createdAt: last.position_ts, id: last.id } : null;
      return { rows: page.map(({ position_ts: _ts, ...row }) => row), next };
    },

    /**
     * Returns false when the row is missing, removed (terminal), paused or hibernat* (parked by an operator). With `event`, the event
     * is recorded (and broadcast) in the same statement, only when the status was written: one round
     * trip for a transition and its event, and no event for a workspace that was not changed.
     * `ownedByRun`: write only if that provision run owns the row (or none does: rows from before
     * migration 004), so a step of an older run never touches a row a newer run took over.
     * `claimRun`: the run takes ownership (the pre-004 provision path's markProvisioning).
     */
    async setStatus(
      id: string,
      status: Exclude<WorkspaceStatus, 'removed'>,
      extra: { lastSampleError?: string | null; provisionStarted?: boolean; ownedByRun?: string; claimRun?: string } = {},
      event?: { type: EventName; payload?: Record<string, unknown>; dedupeKey?: string },
    ): Promise<boolean> {
      const update = `UPDATE workspaces SET status = $2,
            last_sample_error = CASE WHEN $3::boolean THEN $4 ELSE last_sample_error END,
            provision_started_at = CASE WHEN $5::boolean THEN now() ELSE provision_started_at END,
            provision_run_id = COALESCE($7::text, provision_run_id),
            provision_deadline_at = CASE WHEN provision_run_id IS DISTINCT FROM COALESCE($7::text, provision_run_id) THEN NULL
                                         ELSE provision_deadline_at END,
            updated_at = now()
          WHERE id = $1 AND status NOT IN ('removed', 'paused', 'hibernating', 'hibernated')
            AND ($6::text IS NULL OR provision_run_id IS NULL OR provision_run_id = $6)`;
      const params = [
        id, status, extra.lastSampleError !== undefined, extra.lastSampleError ?? null, extra.provisionStarted ?? false,
        extra.ownedByRun ?? null, extra.claimRun ?? null,
      ];
      if (!event) return (await pool.query(update, params)).rowCount === 1;
      const { rows } = await pool.query<{ updated: number }>(
        `WITH updated AS (${update} RETURNING id),
         inserted AS (
           INSERT INTO structure_events (event_type, workspace_id, payload, dedupe_key)
           SELECT $8::text, id, $9::jsonb, $10::text FROM updated ON CONFLICT (dedupe_key) DO NOTHING RETURNING 1),
         notified AS (SELECT pg_notify('molecule_events', $11) FROM inserted)
         SELECT (SELECT count(*) FROM updated)::int AS updated, (SELECT count(*) FROM notified)::int AS notified`,
        [...params, event.type, JSON.stringify(event.payload ?? {}), event.dedupeKey ?? null, eventNotice(event.type, id, null)],
      );
      return rows[0]?.updated === 1;
    },

    /** `olderNamesRuledOut`: the workspace's containers under older names are gone (its lookup ran). */
    async setComputeRefs(id: string, refs: { containerName?: string | null; instanceId?: string | null; olderNamesRuledOut?: true }): Promise<void> {
      await pool.query(
        `UPDATE workspaces SET
            container_name = CASE WHEN $2::boolean THEN $3 ELSE container_name END,
            instance_id = CASE WHEN $4::boolean THEN $5 ELSE instance_id END,
            may_have_older_container_names = may_have_older_container_names AND NOT $6::boolean,
            updated_at = now()
          WHERE id = $1`,
        [id, refs.containerName !== undefined, refs.containerName ?? null, refs.instanceId !== undefined, refs.instanceId ?? null, refs.olderNamesRuledOut === true],
      );
    },

    /** Ids of the workspace and all its descendants (recursive CTE; the root alone when childless). */
    async subtreeIds(rootId: string): Promise<string[]> {
      const { rows } = await pool.query<{ id: string }>(
        `${SUBTREE_CTE} SELECT id FROM tree ORDER BY depth DESC, id`,
        [rootId],
      );
      return rows.map((r) => r.id);
    },

    /**
     * Delete steps that touch only Postgres, in SPEC order and in one transaction: mark the whole
     * subtree removed (first, so a racing register/heartbeat cannot resurrect it), drop canvas layouts,
     * revoke tokens, disable schedules. Idempotent: re-running returns the same set.
     */
    async markSubtreeRemoved(rootId: string): Promise<Array<{ id: string; compute: ComputeKind; instance_id: string | null }>> {
      return inTransaction(async (db) => {
        const { rows } = await db.query<{ id: string; compute: ComputeKind; instance_id: string | null }>(
          `${SUBTREE_CTE}
           UPDATE workspaces w SET status = 'removed', removed_at = COALESCE(w.removed_at, now()), updated_at = now()
             FROM tree WHERE w.id = tree.id
           RETURNING w.id, w.compute, w.instance_id`,
          [rootId],
        );
        const ids = rows.map((r) => r.id);
        await db.query('DELETE FROM canvas_layouts WHERE workspace_id = ANY($1::uuid[])', [ids]);
        await db.query('UPDATE workspace_auth_tokens SET revoked_at = now() WHERE workspace_id = ANY($1::uuid[]) AND revoked_at IS NULL', [ids]);
        await db.query('UPDATE workspace_schedules SET enabled = false WHERE workspace_id = ANY($1::uuid[]) AND enabled', [ids]);
        return rows.sort((a, b) => a.id.localeCompare(b.id));
      });
    },

    /** Hard-deletes exactly these rows (and their dependents). */
    async purgeWorkspaces(ids: string[]): Promise<number> {
      return inTransaction(async (db) => {
        await db.query('UPDATE workspaces SET parent_id = NULL WHERE parent_id = ANY($1::uuid[]) AND NOT (id = ANY($1::uuid[]))', [ids]);
        const res = await db.query(`DELETE FROM workspaces WHERE id = ANY($1::uuid[]) AND status = 'removed'`, [ids]);
        return res.rowCount ?? 0;
      });
    },
  };
}
