// Events you can watch: one workspace's history (cursor pages) and a live Server-Sent Events stream of
// every workspace, or of one workspace or one import. The stream resumes from Last-Event-ID with no
// gap and no repeat (the cursor is explained in store/events.ts), sends a comment on idle connections,
// admits EVENT_STREAM_MAX clients per process (429 beyond) and disconnects a client that stops reading
// once EVENT_STREAM_BUFFER_BYTES are queued for it; it resumes where it stopped when it reconnects.
import type { ServerResponse } from 'node:http';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { StoredEvent } from '../../activities/store/events';
import { DomainError } from '../../domain/errors';
import { EVENT_CURSOR_PATTERN, formatEventCursor, parseEventCursor, type EventCursor } from '../../domain/event-cursor';
import type { ApiDeps } from '../deps';
import { notFound } from '../errors';
import { errorResponse, eventStreamResponse, idParams } from '../schemas';

/** Events read from Postgres per query; a stream that is behind reads again at once. */
const STREAM_BATCH = 200;
/** Fallback poll: an event whose transaction was not yet settled when its NOTIFY came is sent by now. */
const STREAM_POLL_MS = 500;

const cursorText = z.string().regex(EVENT_CURSOR_PATTERN, 'must be an event id').describe('an event id from a previous answer or stream');
const eventView = z.object({
  id: z.string().describe('cursor: pass as Last-Event-ID or ?before='),
  type: z.string(),
  workspace_id: z.string().nullable(),
  org_import_id: z.string().nullable(),
  payload: z.record(z.string(), z.unknown()),
  created_at: z.date(),
});
const pageQuery = z.object({ limit: z.coerce.number().int().min(1).max(500).default(100), before: cursorText.optional() });
const streamQuery = z.object({ workspace_id: z.uuid().optional(), org_import_id: z.uuid().optional(), last_event_id: cursorText.optional() });

function view(e: StoredEvent) {
  return { id: formatEventCursor(e), type: e.event_type, workspace_id: e.workspace_id, org_import_id: e.org_import_id, payload: e.payload, created_at: e.created_at };
}

function cursorOrFail(text: string | undefined): EventCursor | null {
  if (text === undefined) return null;
  const cursor = parseEventCursor(text);
  if (!cursor) throw new DomainError('INVALID_CURSOR', 400, 'not an event id issued by this platform');
  return cursor;
}

export const eventRoutes =
  (deps: ApiDeps): FastifyPluginAsyncZod =>
  async (app) => {
    app.addHook('onRequest', deps.adminGuard);
    let openStreams = 0;
    // Hijacked responses are not Fastify's to close: end them so that app.close() does not wait on them.
    const live = new Set<ServerResponse>();
    app.addHook('preClose', async () => {
      for (const res of live) res.destroy();
    });

    app.get(
      '/workspaces/:id/events',
      {
        schema: {
          tags: ['events'],
          params: idParams,
          querystring: pageQuery,
          response: { 200: z.object({ events: z.array(eventView), next_cursor: z.string().nullable() }), 400: errorResponse, 404: errorResponse },
        },
      },
      async (request) => {
        const before = cursorOrFail(request.query.before);
        // Removed workspaces keep their history: only an unknown id is a 404.
        if (!(await deps.store.getWorkspace(request.params.id))) throw notFound('workspace');
        const rows = await deps.store.workspaceEventsPage(request.params.id, before, request.query.limit);
        const last = rows.at(-1);
        return { events: rows.map(view), next_cursor: rows.length === request.query.limit && last ? formatEventCursor(last) : null };
      },
    );

    app.get(
      '/events/stream',
      {
        schema: {
          tags: ['events'],
          querystring: streamQuery,
          headers: z.object({ 'last-event-id': cursorText.optional() }).passthrough(),
          response: { 200: eventStreamResponse, 400: errorResponse, 429: errorResponse },
        },
      },
      async (request, reply) => {
        const resumeFrom = cursorOrFail(request.headers['last-event-id'] ?? request.query.last_event_id);
        if (openStreams >= deps.config.EVENT_STREAM_MAX) {
          throw new DomainError('TOO_MANY_STREAMS', 429, 'too many event streams are open; retry later');
        }
        const filter = { workspaceId: request.query.workspace_id ?? null, orgImportId: request.query.org_import_id ?? null };
        openStreams++;
        let cursor: EventCursor;
        try {
          cursor = resumeFrom ?? (await deps.store.eventStreamHead());
        } catch (err) {
          openStreams--;
          throw err;
        }

        reply.hijack();
        const res = reply.raw;
        live.add(res);
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
        res.write('retry: 2000\n\n');
        let open = true;
        let wake: (() => void) | null = null;
        const nudge = () => {
          const w = wake;
          wake = null;
          w?.();
        };
        const unsubscribe = deps.eventHub.subscribe(nudge);
        request.raw.on('close', () => {
          open = false;
          nudge();
        });
        const keepAliveMs = deps.config.EVENT_STREAM_KEEPALIVE_SECONDS * 1000;
        let lastWrite = Date.now();
        try {
          while (open) {
            const rows = await deps.store.eventsAfter(cursor, filter, STREAM_BATCH);
            for (const row of rows) {
              res.write(`id: ${formatEventCursor(row)}\nevent: ${row.event_type}\ndata: ${JSON.stringify(view(row))}\n\n`);
              cursor = { tx: row.tx, id: row.id };
            }
            if (rows.length > 0) lastWrite = Date.now();
            // A client that does not read must not grow this process's memory: drop it; it resumes
            // from its Last-Event-ID when it reconnects, and nothing is lost.
            if (res.writableLength > deps.config.EVENT_STREAM_BUFFER_BYTES) {
              request.log.warn({ queued: res.writableLength }, 'event stream client too slow; disconnected');
              res.destroy();
              break;
            }
            if (rows.length === STREAM_BATCH) continue;
            if (Date.now() - lastWrite >= keepAliveMs) {
              res.write(': keep-alive\n\n');
              lastWrite = Date.now();
            }
            await new Promise<void>((resolve) => {
              const timer = setTimeout(resolve, Math.min(STREAM_POLL_MS, keepAliveMs));
              wake = () => {
                clearTimeout(timer);
                resolve();
              };
            });
          }
        } catch (err) {
          request.log.warn({ err: (err as Error).message }, 'event stream ended by an error');
        } finally {
          unsubscribe();
          live.delete(res);
          openStreams--;
          if (!res.destroyed) res.end();
        }
      },
    );
  };
