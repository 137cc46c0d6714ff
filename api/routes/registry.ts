// Agent-facing endpoints, authenticated with the workspace's own bearer token (looked up by hash).
// A removed workspace never comes back to life here: the store's writes exclude `removed` rows.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { DomainError } from '../../domain/errors';
import type { ApiDeps } from '../app';
import { bearerToken } from '../auth';
import { unauthorized, workspaceRemoved as removed } from '../errors';
import { errorResponse, heartbeatBody, registerBody } from '../schemas';
import { createPushUrlCheck } from '../services/push-url';

const agentAnswer = z.object({ status: z.string(), platform_inbound_secret: z.string().nullable() });

export const registryRoutes =
  (deps: ApiDeps): FastifyPluginAsyncZod =>
  async (app) => {
    async function authenticate(token: string | null, workspaceId: string) {
      const identity = token ? await deps.store.authenticateAgent(token) : null;
      // A valid token for another workspace is as good as none: same answer, nothing revealed.
      if (!identity || identity.workspaceId !== workspaceId) throw unauthorized();
      if (identity.status === 'removed') throw removed();
      return identity;
    }

    const pushUrlRefusal = createPushUrlCheck(deps.config.pushUrlAllow);

    app.post(
      '/registry/register',
      {
        schema: {
          tags: ['registry'],
          body: registerBody,
          response: { 200: agentAnswer, 400: errorResponse.extend({ reason: z.string().optional() }), 401: errorResponse, 410: errorResponse },
        },
      },
      async (request) => {
        const token = bearerToken(request);
        await authenticate(token, request.body.workspace_id);
        // After the token check: an unauthenticated caller learns nothing about what the platform refuses.
        const refusal = request.body.url ? await pushUrlRefusal(request.body.url) : null;
        if (refusal) throw new DomainError('PUSH_URL_REFUSED', 400, 'push url refused: it must be a public http(s) address', { reason: refusal });
        // Re-checks the token under the row lock: one a new provision run revoked since is refused.
        const registered = await deps.store.markRegistered(request.body.workspace_id, token ?? '', request.body.url ?? null);
        if (registered.outcome !== 'registered') throw registered.outcome === 'removed' ? removed() : unauthorized();
        // The row says online before the workflow hears it; if this signal is lost the workflow
        // re-reads the row at its deadline. The token's run goes with it: a provision counts only a
        // registration made with the credentials it minted itself.
        await deps.workflows.signalRegistered(request.body.workspace_id, registered.runId);
        request.log.info({ workspaceId: request.body.workspace_id }, 'agent registered');
        return { status: registered.answer.status, platform_inbound_secret: registered.answer.inboundSecret };
      },
    );

    app.post(
      '/registry/heartbeat',
      { schema: { tags: ['registry'], body: heartbeatBody, response: { 200: agentAnswer, 401: errorResponse, 410: errorResponse } } },
      async (request) => {
        await authenticate(bearerToken(request), request.body.workspace_id);
        const beat = await deps.store.recordHeartbeat(request.body.workspace_id);
        if (!beat) throw removed();
        return { status: beat.status, platform_inbound_secret: beat.inboundSecret };
      },
    );
  };
