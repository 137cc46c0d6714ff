// Model and provider of a workspace (SPEC-ADDENDUM A3.3-4, A4): stored as the workspace secrets
// MODEL_PROVIDER and LLM_PROVIDER, so every provision passes them on and no restart re-derives them.
// A change reaches the agent through the coalesced restart requested after the write commits.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ApiDeps } from '../deps';
import { errorResponse, idParams, modelBody, providerBody, restartRequested } from '../schemas';
import { secretWriteRoutes } from '../services/secret-write-routes';
import { MODEL_SECRET, PROVIDER_SECRET } from '../services/model-settings';

const source = z.enum(['workspace_secrets', 'default']);
const written = z.object({ status: z.enum(['saved', 'cleared']), restart: restartRequested });

export const modelRoutes =
  (deps: ApiDeps): FastifyPluginAsyncZod =>
  async (app) => {
    const { restarts, loadLive } = secretWriteRoutes(app, deps);

    /** Saves (or, for an empty value, deletes) one setting secret, then asks for the restart. */
    async function write(id: string, secret: string, value: string) {
      const row = await loadLive(id);
      if (value) await deps.store.putWorkspaceSecret(row.id, secret, value);
      else await deps.store.deleteWorkspaceSecret(row.id, secret);
      return { status: value ? ('saved' as const) : ('cleared' as const), restart: await restarts.one(row) };
    }

    async function read(id: string, secret: string) {
      const row = await loadLive(id);
      const value = await deps.store.getWorkspaceSecret(row.id, secret);
      return value ? { value, source: 'workspace_secrets' as const } : { value: '', source: 'default' as const };
    }

    const responses = (ok: z.ZodType) => ({ 200: ok, 404: errorResponse, 410: errorResponse });

    app.get(
      '/workspaces/:id/model',
      { schema: { tags: ['model'], params: idParams, response: responses(z.object({ model: z.string(), source })) } },
      async (request) => {
        const { value, source: from } = await read(request.params.id, MODEL_SECRET);
        return { model: value, source: from };
      },
    );

    app.put(
      '/workspaces/:id/model',
      { schema: { tags: ['model'], params: idParams, body: modelBody, response: responses(written.extend({ model: z.string() })) } },
      async (request) => ({ ...(await write(request.params.id, MODEL_SECRET, request.body.model.trim())), model: request.body.model.trim() }),
    );

    app.get(
      '/workspaces/:id/provider',
      { schema: { tags: ['model'], params: idParams, response: responses(z.object({ provider: z.string(), source })) } },
      async (request) => {
        const { value, source: from } = await read(request.params.id, PROVIDER_SECRET);
        return { provider: value, source: from };
      },
    );

    app.put(
      '/workspaces/:id/provider',
      { schema: { tags: ['model'], params: idParams, body: providerBody, response: responses(written.extend({ provider: z.string() })) } },
      async (request) => ({ ...(await write(request.params.id, PROVIDER_SECRET, request.body.provider)), provider: request.body.provider }),
    );
  };
