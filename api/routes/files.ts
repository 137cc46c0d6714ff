// Files resource (SPEC-ADDENDUM A3.5, A6): what a workspace's agent finds in /configs besides its token
// and the generated config.yaml. Stored in Postgres, so a write never depends on the container being up:
// PUT replaces the whole set, DELETE empties it, and either requests a restart that recreates the config
// volume, so the agent starts with exactly these files.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ApiDeps } from '../deps';
import { errorResponse, filesBody, idParams, restartRequested } from '../schemas';
import { liveWorkspaceLoader } from '../services/live-workspace';
import { createRestartAfterWrite } from '../services/restart-after-write';


export const fileRoutes =
  (deps: ApiDeps): FastifyPluginAsyncZod =>
  async (app) => {
    app.addHook('onRequest', deps.adminGuard);
    const restarts = createRestartAfterWrite(deps.workflows);
    const loadLive = liveWorkspaceLoader((id) => deps.store.getWorkspace(id));

    app.get(
      '/workspaces/:id/files',
      { schema: { tags: ['files'], params: idParams, response: { 200: z.object({ files: z.array(z.object({ path: z.string(), size: z.number(), updated_at: z.date() })) }), 404: errorResponse, 410: errorResponse } } },
      async (request) => ({ files: await deps.store.listWorkspaceFiles((await loadLive(request.params.id)).id) }),
    );

    async function replace(id: string, files: Array<{ path: string; content: Buffer }>) {
      const row = await loadLive(id);
      await deps.store.inTransaction((db) => deps.store.replaceWorkspaceFiles(db, row.id, files));
      return { status: 'saved' as const, count: files.length, restart: await restarts.one(row, true) };
    }

    const written = z.object({ status: z.literal('saved'), count: z.number(), restart: restartRequested });

    app.put(
      '/workspaces/:id/files',
      { schema: { tags: ['files'], params: idParams, body: filesBody, response: { 200: written, 400: errorResponse, 404: errorResponse, 410: errorResponse } } },
      async (request) => {
        const files = request.body.files.map((f) => ({
          path: f.path,
          content: f.content !== undefined ? Buffer.from(f.content, 'utf8') : Buffer.from(f.content_base64 ?? '', 'base64'),
        }));
        return replace(request.params.id, files);
      },
    );

    app.delete(
      '/workspaces/:id/files',
      { schema: { tags: ['files'], params: idParams, response: { 200: written, 404: errorResponse, 410: errorResponse } } },
      async (request) => replace(request.params.id, []),
    );
  };
