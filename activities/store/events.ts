// The events aggregate: broadcast structure events (recorded and NOTIFYed once per dedupe key) and
// the per-workspace activity log.
import type { Pool } from 'pg';
import type { EventCursor } from '../../domain/event-cursor';
import type { ActivitySource, EventName } from '../../domain/vocabulary';
import { eventNotice, type Queryable } from './db';

export interface StoredEvent {
  tx: string;
  id: string;
  event_type: string;
  workspace_id: string | null;
  org_import_id: string | null;
  payload: Record<string, unknown>;
  created_at: Date;
}

export interface EventFilter {
  workspaceId?: string | null;
  /** The import's own events and those of every workspace it created. */
  orgImportId?: string | null;
}

const EVENT_COLUMNS = 'tx::text AS tx, id::text AS id, event_type, workspace_id, org_import_id, payload, created_at';
/** Only events whose transaction is older than every running one: nothing can appear before them later. */
const SETTLED = 'tx < pg_snapshot_xmin(pg_current_snapshot())';

export function createEventStore(pool: Pool) {
  return {
    async recordEvent(
      type: EventName,
      opts: { workspaceId?: string | null; orgImportId?: string | null; payload?: Record<string, unknown>; dedupeKey?: string },
      /** A transaction's client: the event commits (and is broadcast) with the change it records. */
      db: Queryable = pool,
    ): Promise<void> {
      const payload = JSON.stringify(opts.payload ?? {});
      // Insert and broadcast in one statement: the notify runs only when the row is new (a retried
      // activity's duplicate is not broadcast twice). Payload bounded by construction (ids, counts).
      const notice = eventNotice(type, opts.workspaceId ?? null, opts.orgImportId ?? null);
      await db.query(
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
      /** Who it came from (default `platform`) and the workspaces it is between (A12.3 filters). */
      source?: ActivitySource;
      sourceId?: string | null;
      targetId?: string | null;
    }): Promise<void> {
      await pool.query(
        `INSERT INTO activity_logs (workspace_id, action, level, message, details, dedupe_key, source, source_id, target_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (dedupe_key) DO NOTHING`,
        [
          entry.workspaceId, entry.action, entry.level ?? 'info', entry.message.slice(0, 20000), JSON.stringify(entry.details ?? {}), entry.dedupeKey ?? null,
          entry.source ?? 'platform', entry.sourceId ?? null, entry.targetId ?? null,
        ],
      );
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

    /** The stream's current end: where a client that gives no Last-Event-ID starts. */
    async eventStreamHead(): Promise<EventCursor> {
      const { rows } = await pool.query<{ tx: string; id: string }>(
        `SELECT tx::text AS tx, id::text AS id FROM structure_events WHERE ${SETTLED} ORDER BY structure_events.tx DESC, structure_events.id DESC LIMIT 1`,
      );
      return rows[0] ?? { tx: '0', id: '0' };
    },

    /** Settled events after `after`, in stream order, optionally of one workspace or one import. */
    async eventsAfter(after: EventCursor, filter: EventFilter, limit: number): Promise<StoredEvent[]> {
      const { rows } = await pool.query<StoredEvent>(
        `SELECT ${EVENT_COLUMNS} FROM structure_events
          WHERE (tx, id) > ($1::xid8, $2::bigint) AND ${SETTLED}
            AND ($3::uuid IS NULL OR workspace_id = $3)
            AND ($4::uuid IS NULL OR org_import_id = $4 OR workspace_id IN (SELECT id FROM workspaces WHERE org_import_id = $4))
          ORDER BY structure_events.tx, structure_events.id LIMIT $5`,
        [after.tx, after.id, filter.workspaceId ?? null, filter.orgImportId ?? null, limit],
      );
      return rows;
    },

    /** One workspace's events, newest first, one page before the `before` cursor (or from the newest). */
    async workspaceEventsPage(workspaceId: string, before: EventCursor | null, limit: number): Promise<StoredEvent[]> {
      const { rows } = await pool.query<StoredEvent>(
        `SELECT ${EVENT_COLUMNS} FROM structure_events
          WHERE workspace_id = $1 AND ($2::xid8 IS NULL OR (tx, id) < ($2::xid8, $3::bigint))
          ORDER BY structure_events.tx DESC, structure_events.id DESC LIMIT $4`,
        [workspaceId, before?.tx ?? null, before?.id ?? null, limit],
      );
      return rows;
    },
  };
}
