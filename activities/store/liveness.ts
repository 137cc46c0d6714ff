// Liveness (A1) and heartbeats (A2): the status changes that agents' heartbeats, and their absence,
// drive. Each change and its event are one statement (record_heartbeat of migration 011, or one
// UPDATE ... RETURNING feeding the event insert and its NOTIFY), so no change goes unrecorded and no
// event names a change that did not commit. Removed, paused and hibernated rows are never touched.
import type { Pool } from 'pg';
import { EVENTS, type WorkspaceStatus } from '../../domain/vocabulary';
import { newInboundSecret, SecretsKeyMissingError, type SecretBox } from '../crypto';
import type { AgentAnswer } from './credentials';

/** A workspace a liveness pass moved (or, in a dry run, would move). */
export interface StaleWorkspace {
  id: string;
  previousStatus: WorkspaceStatus;
}

/** An online platform agent with compute, as the engine pass checks it. */
export interface WatchedWorkspace {
  id: string;
  compute: 'docker' | 'ec2';
  instanceId: string | null;
  runId: string | null;
}

/** What the engine said about an agent's compute (A1.4, A9): why the agent counts as dead. */
export type DeathReason = 'container_exited' | 'container_missing' | 'instance_stopped' | 'instance_missing';

type StaleTarget = { status: 'awaiting_agent'; external: true } | { status: 'offline'; external: false };

export function createLivenessStore(pool: Pool, box: SecretBox) {
  /** A2.6: a workspace with no inbound secret gets one on the spot; without SECRETS_KEY it gets none. */
  function sealedFreshSecret(): string | null {
    try {
      return box.seal(newInboundSecret());
    } catch (err) {
      if (err instanceof SecretsKeyMissingError) return null;
      throw err;
    }
  }

  /**
   * Online/degraded rows silent for `staleAfterSeconds`: external runtimes (silence measured from
   * COALESCE(last_heartbeat_at, updated_at), A1.3) or the platform's own agents (from their last
   * heartbeat, as before A1). The WHERE clause is the guard: whatever status a row took since a dry
   * run or a heartbeat that landed meanwhile, only a row still online/degraded and still silent moves.
   */
  async function markStale(target: StaleTarget, staleAfterSeconds: number, dryRun: boolean): Promise<StaleWorkspace[]> {
    const silent = target.external
      ? `runtime = 'external' AND COALESCE(last_heartbeat_at, updated_at) < now() - make_interval(secs => $1)`
      : `runtime <> 'external' AND last_heartbeat_at < now() - make_interval(secs => $1)`;
    const candidates = `SELECT id, status FROM workspaces WHERE status IN ('online', 'degraded') AND ${silent}`;
    if (dryRun) {
      const { rows } = await pool.query<{ id: string; status: WorkspaceStatus }>(`${candidates} ORDER BY id`, [staleAfterSeconds]);
      return rows.map((r) => ({ id: r.id, previousStatus: r.status }));
    }
    const event = target.external ? EVENTS.workspaceAwaitingAgent : EVENTS.workspaceOffline;
    const { rows } = await pool.query<{ id: string; previous: WorkspaceStatus }>(
      `WITH stale AS (${candidates} FOR UPDATE SKIP LOCKED),
       moved AS (
         UPDATE workspaces w SET status = $2, updated_at = now(),
                offline_at = CASE WHEN $2 = 'offline' THEN now() ELSE w.offline_at END FROM stale
          WHERE w.id = stale.id RETURNING w.id, stale.status AS previous),
       inserted AS (
         INSERT INTO structure_events (event_type, workspace_id, payload)
         SELECT $3, id, jsonb_build_object('reason', 'heartbeat_stale', 'stale_after_seconds', $1::int, 'previous_status', previous)
           FROM moved RETURNING workspace_id),
       notified AS (
         SELECT pg_notify('molecule_events', json_build_object('type', $3::text, 'workspaceId', workspace_id, 'orgImportId', NULL)::text)
           FROM inserted)
       SELECT id, previous FROM moved WHERE (SELECT count(*) FROM notified) >= 0 ORDER BY id`,
      [staleAfterSeconds, target.status, event],
    );
    return rows.map((r) => ({ id: r.id, previousStatus: r.previous }));
  }

  return {
    /** Online/degraded platform agents with compute: the engine pass looks each one up. */
    async listEngineWatched(): Promise<WatchedWorkspace[]> {
      const { rows } = await pool.query<{ id: string; compute: 'docker' | 'ec2'; instance_id: string | null; provision_run_id: string | null }>(
        `SELECT id, compute, instance_id, provision_run_id FROM workspaces
          WHERE status IN ('online', 'degraded') AND runtime <> 'external' AND compute IN ('docker', 'ec2') ORDER BY id`,
      );
      return rows.map((r) => ({ id: r.id, compute: r.compute, instanceId: r.instance_id, runId: r.provision_run_id }));
    },

    /**
     * A1.4/A9.2: agents the engine reports dead go offline with WORKSPACE_OFFLINE, in one statement.
     * Each row moves only if it is still online/degraded under the provision run the pass looked at:
     * a restart or provision that replaced the compute meanwhile started a new run, and is left alone.
     */
    async markDeadOffline(dead: Array<{ id: string; runId: string | null; reason: DeathReason }>): Promise<StaleWorkspace[]> {
      if (dead.length === 0) return [];
      const { rows } = await pool.query<{ id: string; previous: WorkspaceStatus }>(
        `WITH dead AS (SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[]) AS d(id, run, reason)),
         stale AS (
           SELECT w.id, w.status, dead.reason FROM workspaces w JOIN dead ON dead.id = w.id
            WHERE w.status IN ('online', 'degraded') AND w.runtime <> 'external'
              AND w.provision_run_id IS NOT DISTINCT FROM dead.run
            FOR UPDATE OF w SKIP LOCKED),
         moved AS (
           UPDATE workspaces w SET status = 'offline', offline_at = now(), updated_at = now() FROM stale
            WHERE w.id = stale.id RETURNING w.id, stale.status AS previous, stale.reason),
         inserted AS (
           INSERT INTO structure_events (event_type, workspace_id, payload)
           SELECT $4, id, jsonb_build_object('reason', reason, 'previous_status', previous) FROM moved RETURNING workspace_id),
         notified AS (
           SELECT pg_notify('molecule_events', json_build_object('type', $4::text, 'workspaceId', workspace_id, 'orgImportId', NULL)::text)
             FROM inserted)
         SELECT id, previous FROM moved WHERE (SELECT count(*) FROM notified) >= 0 ORDER BY id`,
        [dead.map((d) => d.id), dead.map((d) => d.runId), dead.map((d) => d.reason), EVENTS.workspaceOffline],
      );
      return rows.map((r) => ({ id: r.id, previousStatus: r.previous }));
    },

    /**
     * Stores the agent's report and applies the status rules (record_heartbeat, migration 011). Null
     * for a missing or removed workspace. `report` holds only the fields the agent sent, clamped.
     */
    async recordHeartbeat(workspaceId: string, report: Record<string, unknown>): Promise<AgentAnswer | null> {
      const { rows } = await pool.query<{ status: WorkspaceStatus; platform_inbound_secret: string | null }>(
        'SELECT status, platform_inbound_secret FROM record_heartbeat($1, $2, $3)',
        [workspaceId, JSON.stringify(report), sealedFreshSecret()],
      );
      const row = rows[0];
      if (!row) return null;
      return { status: row.status, inboundSecret: row.platform_inbound_secret ? box.open(row.platform_inbound_secret) : null };
    },

    /** A1.3: silent external agents wait as awaiting_agent (never offline), WORKSPACE_AWAITING_AGENT each. */
    markSilentExternalAwaiting(staleAfterSeconds: number, opts: { dryRun: boolean }): Promise<StaleWorkspace[]> {
      return markStale({ status: 'awaiting_agent', external: true }, staleAfterSeconds, opts.dryRun);
    },

    /** A1.2: the platform's own agents whose heartbeats stopped go offline, WORKSPACE_OFFLINE each. */
    markSilentPlatformOffline(staleAfterSeconds: number, opts: { dryRun: boolean }): Promise<StaleWorkspace[]> {
      return markStale({ status: 'offline', external: false }, staleAfterSeconds, opts.dryRun);
    },
  };
}
