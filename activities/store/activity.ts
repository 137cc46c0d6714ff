// Reading one workspace's activity log with the filters of SPEC-ADDENDUM A12.3 (all ANDed). Entries
// are written by store/events.ts (recordActivity) and by the management writes themselves.
import type { Pool } from 'pg';
import type { ActivitySource } from '../../domain/vocabulary';

export interface ActivityEntry {
  id: string;
  action: string;
  level: string;
  message: string;
  details: unknown;
  source: ActivitySource;
  source_id: string | null;
  target_id: string | null;
  created_at: Date;
}

export interface ActivityFilter {
  /** The entry's action, e.g. `workspace.updated`. */
  type?: string;
  source?: ActivitySource;
  limit: number;
  /** Only entries of the last N seconds. */
  sinceSecs?: number;
  /** Entries whose source or target is this workspace. */
  peerId?: string;
  /** Only entries created before this instant (RFC 3339). */
  beforeTs?: Date;
  /** Only entries after this one (an id of this workspace's log), oldest first. */
  sinceId?: string;
}

export function createActivityStore(pool: Pool) {
  return {
    /** `gone`: since_id is not an entry of this workspace (never was, or another workspace's). */
    async listActivity(workspaceId: string, filter: ActivityFilter): Promise<{ outcome: 'ok'; entries: ActivityEntry[] } | { outcome: 'gone' }> {
      if (filter.sinceId !== undefined) {
        const known = await pool.query('SELECT 1 FROM activity_logs WHERE id = $1::bigint AND workspace_id = $2', [filter.sinceId, workspaceId]);
        if (known.rowCount === 0) return { outcome: 'gone' };
      }
      // Newer entries after a cursor come oldest first, so a client can poll and append; otherwise newest first.
      const order = filter.sinceId !== undefined ? 'ASC' : 'DESC';
      const { rows } = await pool.query<ActivityEntry>(
        `SELECT id::text AS id, action, level, message, details, source, source_id, target_id, created_at
           FROM activity_logs
          WHERE workspace_id = $1
            AND ($2::text IS NULL OR action = $2)
            AND ($3::text IS NULL OR source = $3)
            AND ($4::int IS NULL OR created_at > now() - make_interval(secs => $4))
            AND ($5::uuid IS NULL OR source_id = $5 OR target_id = $5)
            AND ($6::timestamptz IS NULL OR created_at < $6)
            AND ($7::bigint IS NULL OR id > $7)
          ORDER BY activity_logs.id ${order} LIMIT $8`,
        [
          workspaceId, filter.type ?? null, filter.source ?? null, filter.sinceSecs ?? null, filter.peerId ?? null,
          filter.beforeTs ?? null, filter.sinceId ?? null, filter.limit,
        ],
      );
      return { outcome: 'ok', entries: rows };
    },
  };
}
