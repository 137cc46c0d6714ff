// The events aggregate: broadcast structure events (recorded and NOTIFYed once per dedupe key) and
// the per-workspace activity log.
import type { Pool } from 'pg';
import type { EventName } from '../../domain/vocabulary';
import { eventNotice } from './db';

export function createEventStore(pool: Pool) {
  return {
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
