// Org import resource: list templates, import (dir or inline), read an import, stream its progress
// (Server-Sent Events), retry a failed one, cancel a running one.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { DomainError } from '../../domain/errors';
import { DEFAULT_ITEMS_PAGE, ITEM_CURSOR_PATTERN, MAX_ITEMS_PAGE, parseItemCursor } from '../../domain/import-item-cursor';
import { ORG_IMPORT_STATUSES } from '../../domain/vocabulary';
import type { ApiDeps } from '../deps';
import { errorResponse, eventStreamResponse, idParams, orgImportBody } from '../schemas';
import { IDEMPOTENCY_DESCRIPTION, idempotencyHooks } from '../services/idempotency';
import { createOrgImportService } from '../services/org-import-service';

const SSE_POLL_MS = 500;

const notStarted = errorResponse.extend({ import_id: z.string().optional().describe('IMPORT_NOT_STARTED: the import, marked failed; POST /org/imports/:id/retry re-runs it') });
const cancelAnswer = z.object({ import_id: z.string(), workflow_id: z.string(), status: z.enum(['cancelling', 'cancelled']) });
const SSE_MAX_MS = 60 * 60 * 1000;

/** GET /org/imports/:id: the org_imports row, its live progress and its items (their fields as stored). */
const importView = z.looseObject({
  id: z.string(),
  status: z.enum(ORG_IMPORT_STATUSES),
  progress: z.unknown().describe('live progress of the running workflow; null once it has ended'),
  items: z.array(z.looseObject({ key: z.string(), workspace_id: z.string().nullable(), outcome: z.string().nullable() })).describe('one page, in (depth, key) order'),
  items_total: z.number().describe('items of the whole import'),
  items_next: z.string().nullable().describe('pass as ?items_after= for the next page; null on the last'),
});

/** An org of 10,000 workspaces has 10,000 items: they come in pages, so a poll stays small. */
const importQuery = z.object({
  items_limit: z.coerce.number().int().min(0).max(MAX_ITEMS_PAGE).default(DEFAULT_ITEMS_PAGE).describe('items per page (0: counts only)'),
  items_after: z.string().regex(ITEM_CURSOR_PATTERN, 'must be an items_next').optional().describe('items_next of the previous page (opaque)'),
});

const started = z.object({
  import_id: z.string(),
  workflow_id: z.string(),
  run_id: z.string(),
  status: z.literal('running'),
  warnings: z.array(z.object({ file: z.string(), path: z.string(), message: z.string() })).optional(),
});

export const orgRoutes =
  (deps: ApiDeps): FastifyPluginAsyncZod =>
  async (app) => {
    app.addHook('onRequest', deps.adminGuard);
    const service = createOrgImportService({ config: deps.config, store: deps.store, box: deps.box, client: deps.temporal, log: app.log });

    app.get(
      '/org/templates',
      {
        schema: {
          tags: ['org'],
          response: {
            200: z.object({
              templates: z.array(
                z.object({
                  dir: z.string(),
                  name: z.string(),
                  description: z.string(),
                  workspaces: z.number().describe('include-expanded'),
                  required_env: z.array(z.string()).describe('the whole tree\'s, sorted; an any_of group reads A|B'),
                  recommended_env: z.array(z.string()).describe('sorted; never one that is also required'),
                  error: z.string().optional().describe('template error code; the lists are empty then'),
                }),
              ),
            }),
          },
        },
      },
      async () => ({ templates: await service.listTemplates() }),
    );

    const importIdempotency = idempotencyHooks(deps.store, 'POST /org/import');
    app.post(
      '/org/import',
      {
        // Secrets key first: an import that could not seal its snapshot must not take an idempotency key.
        preHandler: [deps.requireSecretsKey, importIdempotency.preHandler],
        onSend: importIdempotency.onSend,
        schema: {
          tags: ['org'],
          description: IDEMPOTENCY_DESCRIPTION,
          body: orgImportBody,
          response: {
            202: started,
            400: errorResponse.extend({ template_error: z.string().optional(), file: z.string().optional(), path: z.string().optional() }),
            404: errorResponse,
            412: errorResponse.extend({
              missing_env: z.array(z.string()),
              required_env: z.array(z.string()).describe('every variable the template requires (A|B: either one)'),
              template: z.string(),
              suggestion: z.string(),
              import_id: z.string().describe('id carried by the org.import.started/completed events of this refused import'),
            }),
            503: notStarted,
          },
        },
      },
      async (request, reply) => {
        const run = await service.importOrg(request.body);
        return reply.status(202).send({ import_id: run.importId, workflow_id: run.workflowId, run_id: run.runId, status: 'running' as const, warnings: run.warnings });
      },
    );

    app.get(
      '/org/imports/:id',
      { schema: { tags: ['org'], params: idParams, querystring: importQuery, response: { 200: importView, 400: errorResponse, 404: errorResponse } } },
      async (request) => {
        const after = request.query.items_after === undefined ? null : parseItemCursor(request.query.items_after);
        if (after === undefined) throw new DomainError('INVALID_CURSOR', 400, 'items_after is not an items_next issued by this platform');
        const { row, live, items, total, next } = await service.describe(request.params.id, { limit: request.query.items_limit, after });
        return { ...row, progress: live, items, items_total: total, items_next: next };
      },
    );

    app.post(
      '/org/imports/:id/retry',
      { preHandler: deps.requireSecretsKey, schema: { tags: ['org'], params: idParams, response: { 202: started.extend({ retry_of: z.string() }), 404: errorResponse, 409: errorResponse, 503: notStarted } } },
      async (request, reply) => {
        const run = await service.retry(request.params.id);
        return reply.status(202).send({ import_id: run.importId, workflow_id: run.workflowId, run_id: run.runId, status: 'running' as const, retry_of: request.params.id });
      },
    );

    app.post(
      '/org/imports/:id/cancel',
      {
        schema: {
          tags: ['org'],
          params: idParams,
          response: {
            200: cancelAnswer.describe('already cancelled'),
            202: cancelAnswer.describe('cancellation requested; GET /org/imports/:id shows `cancelled` once every in-flight provision has compensated'),
            404: errorResponse,
            409: errorResponse.extend({ status: z.enum(ORG_IMPORT_STATUSES).optional() }),
          },
        },
      },
      async (request, reply) => {
        const run = await service.cancel(request.params.id);
        return reply.status(run.status === 'cancelled' ? 200 : 202).send({ import_id: request.params.id, workflow_id: run.workflowId, status: run.status });
      },
    );

    app.get('/org/imports/:id/events', { schema: { tags: ['org'], params: idParams, response: { 200: eventStreamResponse, 404: errorResponse } } }, async (request, reply) => {
      await service.progress(request.params.id); // 404 before the stream opens
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
      let open = true;
      request.raw.on('close', () => {
        open = false;
      });
      const deadline = Date.now() + SSE_MAX_MS;
      let last = '';
      while (open && Date.now() < deadline) {
        const { row, live } = await service.progress(request.params.id).catch(() => ({ row: null, live: null }));
        if (!row) break;
        const payload = JSON.stringify({
          status: row.status,
          progress: live,
          created: row.created_count,
          skipped: row.skipped_count,
          failed: row.failed_count,
          reconcile_removed: row.reconcile_removed_count,
        });
        if (payload !== last) {
          res.write(`event: progress\ndata: ${payload}\n\n`);
          last = payload;
        }
        if (row.status !== 'running') {
          res.write(`event: done\ndata: ${JSON.stringify({ status: row.status, error: row.error })}\n\n`);
          break;
        }
        await new Promise((r) => setTimeout(r, SSE_POLL_MS));
      }
      res.end();
    });
  };
