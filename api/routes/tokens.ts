// A workspace's agent tokens (SPEC-ADDENDUM A11.1-2): list (ids, prefixes and times, never a token),
// mint one more (shown once, at most 50 live), revoke one. Tokens minted here are ordinary agent tokens:
// register and heartbeat accept them until they are revoked or the workspace is removed.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { MAX_LIVE_TOKENS } from '../../activities/store/tokens';
import { DomainError } from '../../domain/errors';
import type { ApiDeps } from '../deps';
import { notFound, workspaceRemoved } from '../errors';
import { errorResponse, idParams, tokenListQuery, tokenParams, removedBody } from '../schemas';
import { liveWorkspaceLoader } from '../services/live-workspace';


export const tokenRoutes =
  (deps: ApiDeps): FastifyPluginAsyncZod =>
  async (app) => {
    app.addHook('onRequest', deps.adminGuard);
    const loadLive = liveWorkspaceLoader((id) => deps.store.getWorkspace(id));

    app.get(
      '/workspaces/:id/tokens',
      {
        schema: {
          tags: ['tokens'],
          params: idParams,
          querystring: tokenListQuery,
          response: {
            200: z.object({
              tokens: z.array(z.object({ id: z.string(), prefix: z.string().nullable(), created_at: z.date(), last_used_at: z.date().nullable() })),
              count: z.number().describe('live tokens in all'),
            }),
            400: errorResponse,
            404: errorResponse,
            410: removedBody,
          },
        },
      },
      async (request) => {
        const row = await loadLive(request.params.id);
        return deps.store.listLiveTokens(row.id, request.query);
      },
    );

    app.post(
      '/workspaces/:id/tokens',
      {
        schema: {
          tags: ['tokens'],
          params: idParams,
          response: {
            201: z.object({ auth_token: z.string().describe('shown only here'), workspace_id: z.string(), message: z.string() }),
            404: errorResponse,
            410: removedBody,
            429: errorResponse,
          },
        },
      },
      async (request, reply) => {
        const minted = await deps.store.mintExtraToken(request.params.id);
        if (minted.outcome === 'missing') throw notFound('workspace');
        if (minted.outcome === 'removed') throw workspaceRemoved((await deps.store.getWorkspace(request.params.id)) ?? undefined);
        if (minted.outcome === 'limit') {
          throw new DomainError('TOO_MANY_TOKENS', 429, `the workspace already has ${MAX_LIVE_TOKENS} live tokens; revoke one first`);
        }
        void reply.header('cache-control', 'no-store');
        return reply.status(201).send({
          auth_token: minted.token,
          workspace_id: request.params.id,
          message: 'store this token now: it is not shown again',
        });
      },
    );

    app.delete(
      '/workspaces/:id/tokens/:tokenId',
      {
        schema: {
          tags: ['tokens'],
          params: tokenParams,
          response: { 200: z.object({ status: z.literal('revoked') }), 400: errorResponse, 404: errorResponse },
        },
      },
      async (request) => {
        if (!(await deps.store.revokeToken(request.params.id, request.params.tokenId))) throw notFound('live token');
        return { status: 'revoked' as const };
      },
    );
  };
