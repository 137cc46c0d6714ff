// Operator endpoints (admin token). GET /admin/orphans is the sweeper's dry run: what it would
// remove, revoke or fail right now, changing nothing.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import pino from 'pino';
import { z } from 'zod';
import { createOrphanSweeper } from '../../activities/orphan-sweeper';
import type { ApiDeps } from '../deps';

const finding = z.object({ kind: z.string(), id: z.string(), workspace_id: z.string().nullable(), reason: z.string(), action: z.string() });

export const adminRoutes =
  (deps: ApiDeps): FastifyPluginAsyncZod =>
  async (app) => {
    app.addHook('onRequest', deps.adminGuard);
    const sweeper = createOrphanSweeper({ store: deps.store, compute: deps.compute, config: deps.config, log: pino({ level: 'silent' }), temporal: deps.temporal });

    app.get(
      '/admin/orphans',
      { schema: { tags: ['admin'], response: { 200: z.object({ dry_run: z.literal(true), findings: z.array(finding), skipped: z.array(z.string()) }) } } },
      async () => {
        const report = await sweeper.sweep({ dryRun: true });
        return {
          dry_run: true as const,
          findings: report.findings.map((f) => ({ kind: f.kind, id: f.id, workspace_id: f.workspaceId, reason: f.reason, action: f.action })),
          skipped: report.skipped,
        };
      },
    );
  };
