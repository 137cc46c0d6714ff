// A workspace's activity log with the filters of SPEC-ADDENDUM A12.3: type, source, peer, a time
// window, and `since_id` for a client that polls for what is new (oldest first after it).
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ACTIVITY_SOURCES } from '../../domain/vocabulary';
import { DomainError } from '../../domain/errors';
import type { ApiDeps } from '../deps';
import { notFound } from '../errors';
import { activityQuery, errorResponse, idParams } from '../schemas';

const entryView = z.object({
  id: z.string().describe('pass as ?since_id= to read what came after'),
  action: z.string().describe('the entry type ?type= filters on'),
  level: z.string(),
  message: z.string(),
  details: z.unknown(),
  source: z.enum(ACTIVITY_SOURCES),
  source_id: z.string().nullable(),
  target_id: z.string().nullable(),
  created_at: z.date(),
});

export const activityRoutes =
  (deps: ApiDeps): FastifyPluginAsyncZod =>
  async (app) => {
    app.addHook('onRequest', deps.adminGuard);

    app.get(
      '/workspaces/:id/activity',
      {
        schema: {
          tags: ['workspaces'],
          params: idParams,
          querystring: activityQuery,
          response: { 200: z.object({ entries: z.array(entryView) }), 400: errorResponse, 404: errorResponse, 410: errorResponse },
        },
      },
      async (request) => {
        const row = await deps.store.getWorkspace(request.params.id);
        if (!row) throw notFound('workspace');
        const q = request.query;
        const listed = await deps.store.listActivity(row.id, {
          type: q.type,
          source: q.source,
          limit: q.limit,
          sinceSecs: q.since_secs,
          peerId: q.peer_id,
          beforeTs: q.before_ts === undefined ? undefined : new Date(q.before_ts),
          sinceId: q.since_id,
        });
        if (listed.outcome === 'gone') throw new DomainError('CURSOR_GONE', 410, 'since_id is not an entry of this workspace\'s activity log');
        return { entries: listed.entries };
      },
    );
  };
