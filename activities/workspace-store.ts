// Postgres access for workspaces, secrets, tokens, events and activity logs. Shared by activities and
// the API. Every status write goes through setStatus(), which never moves a row out of `removed`
// (a racing register/heartbeat/provision must not resurrect a deleted workspace).
import type { Pool, PoolClient } from 'pg';
import type { ComputeKind, DeliveryMode, EventName, Runtime, UpdateTier, WorkspaceStatus } from '../domain/vocabulary';
import { initialStatusFor } from '../domain/workspace-defaults';
import { hashToken, newAuthToken, newInboundSecret, type SecretBox } from './crypto';

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
  last_sample_error: string | null;
  budget_limit: number | null;
  monthly_spend: number;
  max_concurrent_tasks: number;
  provision_timeout_seconds: number | null;
  required_env: string[];
  provision_started_at: Date | null;
  last_heartbeat_at: Date | null;
  org_import_id: string | null;
  removed_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

/** Columns safe to show users: platform_inbound_secret is never selected into a WorkspaceRow. */
const COLUMNS = `id, name, role, tier, runtime, compute, parent_id, url, status, delivery_mode, update_tier, model,
  instance_id, container_name, last_sample_error, budget_limit::float8 AS budget_limit,
  monthly_spend::float8 AS monthly_spend, max_concurrent_tasks, provision_timeout_seconds,
  required_env, provision_started_at, last_heartbeat_at, org_import_id, removed_at, created_at, updated_at`;

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
}

export interface AgentIdentity {
  workspaceId: string;
  status: WorkspaceStatus;
}

/** What register and heartbeat tell the agent: its status and the secret it checks platform calls with. */
export interface AgentAnswer {
  status: WorkspaceStatus;
  inboundSecret: string | null;
}

interface AgentAnswerRow {
  status: WorkspaceStatus;
  platform_inbound_secret: string | null;
}

type Queryable = Pool | PoolClient;

/**
 * `tree(id, depth)`: workspace $1 and its descendants, at most 64 levels down (a bound, so a corrupt
 * parent chain cannot recurse forever). The delete preview's count and the delete itself must agree on
 * the set, so both take it from here.
 */
const SUBTREE_CTE = `WITH RECURSIVE tree AS (
  SELECT id, 0 AS depth FROM workspaces WHERE id = $1
  UNION ALL
  SELECT w.id, t.depth + 1 FROM workspaces w JOIN tree t ON w.parent_id = t.id WHERE t.depth < 64
)`;

/** What LISTEN molecule_events receives: bounded by construction (type and ids only). */
function eventNotice(type: EventName, workspaceId: string | null, orgImportId: string | null): string {
  return JSON.stringify({ type, workspaceId, orgImportId });
}

export function createWorkspaceStore(pool: Pool, box: SecretBox) {
  async function inTransaction<T>(fn: (client: PoolClient) => Promise<T>): Promise<T> {
    const client = await pool.connect();
    // pg-pool listens for errors only on idle clients; a checked-out client whose connection is killed
    // (Postgres restart, pg_terminate_backend) would otherwise emit an unhandled 'error' and crash the
    // process. The query in flight rejects anyway, and the activity is retried.
    const ignore = () => undefined;
    client.on('error', ignore);
    let failure: Error | undefined;
    try {
      await client.query('BEGIN');
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      failure = err as Error;
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.removeListener('error', ignore);
      // After a failure the connection may be dead: destroy it rather than hand it to the next caller.
      client.release(failure);
    }
  }

  function agentAnswer(row: AgentAnswerRow): AgentAnswer {
    return { status: row.status, inboundSecret: row.platform_inbound_secret ? box.open(row.platform_inbound_secret) : null };
  }

  async function getWorkspace(id: string, db: Queryable = pool): Promise<WorkspaceRow | null> {
    const { rows } = await db.query<WorkspaceRow>(`SELECT ${COLUMNS} FROM workspaces WHERE id = $1`, [id]);
    return rows[0] ?? null;
  }

  return {
    pool,
    inTransaction,
    getWorkspace,

    async createWorkspace(input: NewWorkspace, db: Queryable = pool): Promise<WorkspaceRow> {
      const { rows } = await db.query<WorkspaceRow>(
        `INSERT INTO workspaces (name, role, tier, runtime, compute, parent_id, delivery_mode, update_tier, model,
           budget_limit, max_concurrent_tasks, provision_timeout_seconds, org_import_id, status, required_env)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15) RETURNING ${COLUMNS}`,
        [
          input.name, input.role, input.tier, input.runtime, input.compute, input.parentId, input.deliveryMode,
          input.updateTier, input.model, input.budgetLimit, input.maxConcurrentTasks, input.provisionTimeoutSeconds,
          input.orgImportId ?? null, initialStatusFor(input.compute),
          input.requiredEnv ?? [],
        ],
      );
      return rows[0];
    },

    async listWorkspaces(opts: { includeRemoved: boolean; limit: number; parentId?: string }): Promise<WorkspaceRow[]> {
      const { rows } = await pool.query<WorkspaceRow>(
        `SELECT ${COLUMNS} FROM workspaces
          WHERE ($1::boolean OR status <> 'removed') AND ($2::uuid IS NULL OR parent_id = $2)
          ORDER BY created_at, id LIMIT $3`,
        [opts.includeRemoved, opts.parentId ?? null, opts.limit],
      );
      return rows;
    },

    /**
     * Returns false when the row is missing or removed (removed is terminal). With `event`, the event
     * is recorded (and broadcast) in the same statement, only when the status was written: one round
     * trip for a transition and its event, and no event for a workspace that was not changed.
     */
    async setStatus(
      id: string,
      status: Exclude<WorkspaceStatus, 'removed'>,
      extra: { lastSampleError?: string | null; provisionStarted?: boolean } = {},
      event?: { type: EventName; payload?: Record<string, unknown>; dedupeKey?: string },
    ): Promise<boolean> {
      const update = `UPDATE workspaces SET status = $2,
            last_sample_error = CASE WHEN $3::boolean THEN $4 ELSE last_sample_error END,
            provision_started_at = CASE WHEN $5::boolean THEN now() ELSE provision_started_at END,
            updated_at = now()
          WHERE id = $1 AND status <> 'removed'`;
      const params = [id, status, extra.lastSampleError !== undefined, extra.lastSampleError ?? null, extra.provisionStarted ?? false];
      if (!event) return (await pool.query(update, params)).rowCount === 1;
      const { rows } = await pool.query<{ updated: number }>(
        `WITH updated AS (${update} RETURNING id),
         inserted AS (
           INSERT INTO structure_events (event_type, workspace_id, payload, dedupe_key)
           SELECT $6::text, id, $7::jsonb, $8::text FROM updated ON CONFLICT (dedupe_key) DO NOTHING RETURNING 1),
         notified AS (SELECT pg_notify('molecule_events', $9) FROM inserted)
         SELECT (SELECT count(*) FROM updated)::int AS updated, (SELECT count(*) FROM notified)::int AS notified`,
        [...params, event.type, JSON.stringify(event.payload ?? {}), event.dedupeKey ?? null, eventNotice(event.type, id, null)],
      );
      return rows[0]?.updated === 1;
    },

    async setComputeRefs(id: string, refs: { containerName?: string | null; instanceId?: string | null }): Promise<void> {
      await pool.query(
        `UPDATE workspaces SET
            container_name = CASE WHEN $2::boolean THEN $3 ELSE container_name END,
            instance_id = CASE WHEN $4::boolean THEN $5 ELSE instance_id END,
            updated_at = now()
          WHERE id = $1`,
        [id, refs.containerName !== undefined, refs.containerName ?? null, refs.instanceId !== undefined, refs.instanceId ?? null],
      );
    },

    /** Decrypts global and workspace secrets (one query). Throws DecryptError (no details) on any bad value. */
    async loadSecrets(workspaceId: string): Promise<{ global: Record<string, string>; workspace: Record<string, string> }> {
      const { rows } = await pool.query<{ scope: 'global' | 'workspace'; name: string; value_enc: string }>(
        `SELECT 'global' AS scope, name, value_enc FROM global_secrets
         UNION ALL
         SELECT 'workspace', name, value_enc FROM workspace_secrets WHERE workspace_id = $1`,
        [workspaceId],
      );
      const secrets = { global: {} as Record<string, string>, workspace: {} as Record<string, string> };
      for (const r of rows) secrets[r.scope][r.name] = box.open(r.value_enc);
      return secrets;
    },

    /** Names of global secrets with a non-empty value (the org import preflight's notion of "set"). */
    async nonEmptyGlobalSecretNames(): Promise<Set<string>> {
      const { rows } = await pool.query<{ name: string; value_enc: string }>('SELECT name, value_enc FROM global_secrets');
      return new Set(rows.filter((r) => box.open(r.value_enc) !== '').map((r) => r.name));
    },

    async putGlobalSecret(name: string, value: string): Promise<void> {
      await pool.query(
        `INSERT INTO global_secrets (name, value_enc) VALUES ($1, $2)
         ON CONFLICT (name) DO UPDATE SET value_enc = EXCLUDED.value_enc, updated_at = now()`,
        [name, box.seal(value)],
      );
    },

    async putWorkspaceSecret(workspaceId: string, name: string, value: string): Promise<void> {
      await pool.query(
        `INSERT INTO workspace_secrets (workspace_id, name, value_enc) VALUES ($1, $2, $3)
         ON CONFLICT (workspace_id, name) DO UPDATE SET value_enc = EXCLUDED.value_enc, updated_at = now()`,
        [workspaceId, name, box.seal(value)],
      );
    },

    /**
     * Revokes every live token, issues a new one (only its hash is stored) and a new
     * platform_inbound_secret, atomically. Every provision path calls this (the reference drifted when
     * one path skipped it).
     */
    async mintCredentials(workspaceId: string): Promise<{ token: string; inboundSecret: string }> {
      const token = newAuthToken();
      const inboundSecret = newInboundSecret();
      // One round trip; the function (migration 003) locks the row, revokes, inserts, stores the secret.
      const { rows } = await pool.query<{ minted: boolean }>('SELECT mint_workspace_credentials($1, $2, $3) AS minted', [
        workspaceId,
        hashToken(token),
        box.seal(inboundSecret),
      ]);
      if (!rows[0]?.minted) throw new Error('workspace not found');
      return { token, inboundSecret };
    },

    async revokeTokens(workspaceIds: string[]): Promise<number> {
      const res = await pool.query(
        'UPDATE workspace_auth_tokens SET revoked_at = now() WHERE workspace_id = ANY($1::uuid[]) AND revoked_at IS NULL',
        [workspaceIds],
      );
      return res.rowCount ?? 0;
    },

    /** Finds the workspace a bearer token belongs to; null for unknown or revoked tokens. */
    async authenticateAgent(token: string): Promise<AgentIdentity | null> {
      if (!token || token.length > 200) return null;
      // Looked up by the token's sha256, never by the token: how far the index compare gets depends on
      // the hash, which a caller cannot steer towards a stored one, so its timing reveals nothing of use.
      const { rows } = await pool.query<{ workspace_id: string; status: WorkspaceStatus }>(
        `UPDATE workspace_auth_tokens t SET last_used_at = now()
           FROM workspaces w
          WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND w.id = t.workspace_id
        RETURNING t.workspace_id, w.status`,
        [hashToken(token)],
      );
      const row = rows[0];
      if (!row) return null;
      return { workspaceId: row.workspace_id, status: row.status };
    },

    /** Agent registration: online unless removed (then null). Answers as a heartbeat does, in the same statement. */
    async markRegistered(workspaceId: string, url: string | null): Promise<AgentAnswer | null> {
      const { rows } = await pool.query<AgentAnswerRow>(
        `UPDATE workspaces SET status = 'online', url = COALESCE($2, url), last_heartbeat_at = now(),
                last_sample_error = NULL, updated_at = now()
          WHERE id = $1 AND status <> 'removed' RETURNING status, platform_inbound_secret`,
        [workspaceId, url],
      );
      return rows[0] ? agentAnswer(rows[0]) : null;
    },

    /** Heartbeat: refreshes liveness, returns the inbound secret so an agent that lost it recovers. */
    async recordHeartbeat(workspaceId: string): Promise<AgentAnswer | null> {
      const { rows } = await pool.query<AgentAnswerRow>(
        `UPDATE workspaces SET last_heartbeat_at = now(),
                status = CASE WHEN status IN ('offline','degraded') THEN 'online' ELSE status END,
                updated_at = now()
          WHERE id = $1 AND status <> 'removed' RETURNING status, platform_inbound_secret`,
        [workspaceId],
      );
      return rows[0] ? agentAnswer(rows[0]) : null;
    },

    async recordEvent(
      type: EventName,
      opts: { workspaceId?: string | null; orgImportId?: string | null; payload?: Record<string, unknown>; dedupeKey?: string },
    ): Promise<void> {
      const payload = JSON.stringify(opts.payload ?? {});
      // Insert and broadcast in one statement: the notify runs only when the row is new (a retried
      // activity's duplicate is not broadcast twice). Payload bounded by construction (ids, counts).
      const notice = eventNotice(type, opts.workspaceId ?? null, opts.orgImportId ?? null);
      await pool.query(
        `WITH inserted AS (
           INSERT INTO structure_events (event_type, workspace_id, org_import_id, payload, dedupe_key)
           VALUES ($1, $2, $3, $4, $5) ON CONFLICT (dedupe_key) DO NOTHING RETURNING 1)
         SELECT pg_notify('molecule_events', $6) FROM inserted`,
        [type, opts.workspaceId ?? null, opts.orgImportId ?? null, payload, opts.dedupeKey ?? null, notice],
      );
    },

    async recordActivity(entry: {
      workspaceId: string | null;
      action: string;
      level?: 'debug' | 'info' | 'warn' | 'error';
      message: string;
      details?: Record<string, unknown>;
      dedupeKey?: string;
    }): Promise<void> {
      await pool.query(
        `INSERT INTO activity_logs (workspace_id, action, level, message, details, dedupe_key)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (dedupe_key) DO NOTHING`,
        [entry.workspaceId, entry.action, entry.level ?? 'info', entry.message.slice(0, 20000), JSON.stringify(entry.details ?? {}), entry.dedupeKey ?? null],
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

    async recordEvents(
      type: EventName,
      entries: Array<{ workspaceId: string; payload?: Record<string, unknown>; dedupeKey: string }>,
    ): Promise<void> {
      if (entries.length === 0) return;
      await pool.query(
        `INSERT INTO structure_events (event_type, workspace_id, payload, dedupe_key)
         SELECT $1, u.ws, u.payload, u.dedupe FROM unnest($2::uuid[], $3::jsonb[], $4::text[]) AS u(ws, payload, dedupe)
         ON CONFLICT (dedupe_key) DO NOTHING`,
        [type, entries.map((e) => e.workspaceId), entries.map((e) => JSON.stringify(e.payload ?? {})), entries.map((e) => e.dedupeKey)],
      );
      await pool.query('SELECT pg_notify($1, $2)', ['molecule_events', JSON.stringify({ type, count: entries.length })]);
    },

    async listActivity(workspaceId: string, limit = 100): Promise<Array<{ action: string; level: string; message: string; details: unknown; created_at: Date }>> {
      const { rows } = await pool.query(
        'SELECT action, level, message, details, created_at FROM activity_logs WHERE workspace_id = $1 ORDER BY id DESC LIMIT $2',
        [workspaceId, limit],
      );
      return rows;
    },
  };
}

export type WorkspaceStore = ReturnType<typeof createWorkspaceStore>;
