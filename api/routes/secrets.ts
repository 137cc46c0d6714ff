// Secrets resource: workspace secrets (list names, save, delete) and global secrets. Values are sealed
// before they are written and are never returned. A write reaches running agents through the
// coalesced restart workflow, requested after the write commits (SPEC-ADDENDUM A3.1-2).
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ApiDeps } from '../deps';
import { notFound } from '../errors';
import { errorResponse, globalSecretParams, idParams, secretBody, secretParams, secretWriteBody, restartRequested } from '../schemas';
import { secretWriteRoutes } from '../services/secret-write-routes';

const workspaceWrite = z.object({ status: z.enum(['saved', 'deleted']), key: z.string(), restart: restartRequested });
const globalWrite = z.object({
  status: z.enum(['saved', 'deleted']),
  key: z.string(),
  restarts_requested: z.number().describe('workspaces restarted because their agent uses this global secret'),
  restart_failures: z.number(),
});
const secretList = z.object({ secrets: z.array(z.object({ key: z.string(), created_at: z.date(), updated_at: z.date() })) });

export const secretRoutes =
  (deps: ApiDeps): FastifyPluginAsyncZod =>
  async (app) => {
    const { restarts, loadLive } = secretWriteRoutes(app, deps);

    async function saveWorkspaceSecret(id: string, key: string, value: string) {
      const row = await loadLive(id);
      await deps.store.putWorkspaceSecret(row.id, key, value);
      return { status: 'saved' as const, key, restart: await restarts.one(row) };
    }

    async function saveGlobalSecret(key: string, value: string) {
      await deps.store.putGlobalSecret(key, value);
      const outcome = await restarts.many(await deps.store.workspacesUsingGlobalSecret(key));
      return { status: 'saved' as const, key, restarts_requested: outcome.requested, restart_failures: outcome.failed };
    }

    async function deleteGlobalSecret(key: string) {
      if (!(await deps.store.deleteGlobalSecret(key))) throw notFound('secret');
      const outcome = await restarts.many(await deps.store.workspacesUsingGlobalSecret(key));
      return { status: 'deleted' as const, key, restarts_requested: outcome.requested, restart_failures: outcome.failed };
    }

    const workspaceWriteResponses = { 200: workspaceWrite, 404: errorResponse, 410: errorResponse };
    const globalWriteResponses = { 200: globalWrite, 404: errorResponse };

    app.get(
      '/workspaces/:id/secrets',
      { schema: { tags: ['secrets'], params: idParams, response: { 200: secretList, 404: errorResponse, 410: errorResponse } } },
      async (request) => {
        const row = await loadLive(request.params.id);
        return { secrets: await deps.store.listWorkspaceSecrets(row.id) };
      },
    );

    app.put(
      '/workspaces/:id/secrets/:name',
      { schema: { tags: ['secrets'], params: secretParams, body: secretBody, response: workspaceWriteResponses } },
      async (request) => saveWorkspaceSecret(request.params.id, request.params.name, request.body.value),
    );

    for (const method of ['post', 'put'] as const) {
      app[method](
        '/workspaces/:id/secrets',
        { schema: { tags: ['secrets'], params: idParams, body: secretWriteBody, response: workspaceWriteResponses } },
        async (request) => saveWorkspaceSecret(request.params.id, request.body.key, request.body.value),
      );
      app[method](
        '/settings/secrets',
        { schema: { tags: ['secrets'], body: secretWriteBody, response: globalWriteResponses } },
        async (request) => saveGlobalSecret(request.body.key, request.body.value),
      );
    }

    app.delete(
      '/workspaces/:id/secrets/:name',
      { schema: { tags: ['secrets'], params: secretParams, response: workspaceWriteResponses } },
      async (request) => {
        const row = await loadLive(request.params.id);
        if (!(await deps.store.deleteWorkspaceSecret(row.id, request.params.name))) throw notFound('secret');
        return { status: 'deleted' as const, key: request.params.name, restart: await restarts.one(row) };
      },
    );

    app.put(
      '/admin/secrets/:name',
      { schema: { tags: ['secrets'], params: globalSecretParams, body: secretBody, response: globalWriteResponses } },
      async (request) => saveGlobalSecret(request.params.name, request.body.value),
    );

    for (const path of ['/admin/secrets/:name', '/settings/secrets/:name']) {
      app.delete(path, { schema: { tags: ['secrets'], params: globalSecretParams, response: globalWriteResponses } }, async (request) =>
        deleteGlobalSecret(request.params.name),
      );
    }
  };
