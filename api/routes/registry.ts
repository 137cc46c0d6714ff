// Agent-facing endpoints, authenticated with the workspace's own bearer token (looked up by hash).
// A removed workspace never comes back to life here: the store's writes exclude `removed` rows.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { DomainError } from '../../domain/errors';
import { DELIVERY_MODES } from '../../domain/vocabulary';
import { RegistrationFailed } from '../../activities/store/credentials';
import type { ApiDeps } from '../deps';
import { bearerToken } from '../auth';
import { unauthorized, workspaceRemoved as removed } from '../errors';
import { bootstrapBody, errorResponse, heartbeatBody, registerBody } from '../schemas';
import { heartbeatReport } from '../heartbeat-schema';
import { agentEnv } from '../../activities/agent-env';
import { agentConfigFiles } from '../../activities/agent-files';
import { createPushUrlCheck } from '../services/push-url';
import { fixedWindowLimiter } from '../services/rate-limit';

const agentAnswer = z.object({ status: z.string(), platform_inbound_secret: z.string().nullable() });
const registerAnswer = z.object({
  status: z.literal('registered'),
  delivery_mode: z.enum(DELIVERY_MODES).describe('the mode resolved by A5.4 and stored: the body\'s, else the stored one'),
  auth_token: z.string().optional().describe('only when the workspace had no live token (external agents): shown once'),
  platform_inbound_secret: z.string().optional().describe('the secret platform calls to the agent carry; omitted if it could not be minted'),
});
const bootstrapAnswer = z.object({
  workspace_id: z.string(),
  auth_token: z.string().describe('the agent token of this provision run; send it as the bearer token of register and heartbeat'),
  env: z.record(z.string(), z.string()).describe('the agent env: secrets and platform wiring'),
  files: z.array(z.object({ path: z.string(), content_base64: z.string() })).describe('what to write into /configs: config.yaml and the template files'),
});

/** Bootstrap exchanges allowed per client address and per workspace in one window. */
export const BOOTSTRAP_RATE = { perAddress: 30, perWorkspace: 10, windowMs: 60_000 } as const;
const BOOTSTRAP_CREDENTIAL = /^molb_[A-Za-z0-9_-]{10,100}$/;

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
    const bootstrapLimiter = fixedWindowLimiter({ limit: BOOTSTRAP_RATE.perWorkspace, windowMs: BOOTSTRAP_RATE.windowMs });
    const addressLimiter = fixedWindowLimiter({ limit: BOOTSTRAP_RATE.perAddress, windowMs: BOOTSTRAP_RATE.windowMs });

    // EC2 agents start with a one-time credential from their user data (which anyone with
    // ec2:DescribeInstanceAttribute can read) and exchange it here, once, for their token and env.
    app.post(
      '/registry/bootstrap',
      {
        schema: {
          tags: ['registry'],
          body: bootstrapBody,
          response: { 200: bootstrapAnswer, 401: errorResponse, 410: errorResponse, 429: errorResponse, 503: errorResponse },
        },
      },
      async (request, reply) => {
        const workspaceId = request.body.workspace_id;
        // Both limits count every attempt, so neither one address nor many can guess at full speed.
        if (![addressLimiter.allow(request.ip), bootstrapLimiter.allow(workspaceId)].every(Boolean)) {
          throw new DomainError('RATE_LIMITED', 429, 'too many bootstrap attempts; retry in a minute');
        }
        const credential = bearerToken(request);
        if (!credential || !BOOTSTRAP_CREDENTIAL.test(credential)) throw unauthorized();
        const use = await deps.store.useBootstrapCredential(workspaceId, credential);
        if (use.outcome === 'unknown') throw unauthorized();
        if (use.outcome !== 'exchanged') {
          throw new DomainError(use.outcome === 'used' ? 'BOOTSTRAP_USED' : 'BOOTSTRAP_EXPIRED', 410, `bootstrap credential ${use.outcome === 'used' ? 'already used' : 'expired'}; the workspace must be provisioned again`);
        }
        const ws = await deps.store.getWorkspace(workspaceId);
        if (!ws || ws.status === 'removed') throw removed();
        const token = deps.box.agentTokenForRun(ws.id, use.runId);
        // A newer provision run has replaced this run's credentials: its instance is being removed.
        if (!(await deps.store.authenticateAgent(token))) {
          throw new DomainError('BOOTSTRAP_SUPERSEDED', 410, 'a newer provision replaced these credentials');
        }
        const env = agentEnv(deps.config, ws, await deps.store.loadSecrets(ws.id), use.requestModel).env;
        const files = Object.entries(await agentConfigFiles(deps.store, ws)).map(([path, content]) => ({ path, content_base64: content.toString('base64') }));
        request.log.info({ workspaceId }, 'agent bootstrap exchanged');
        void reply.header('cache-control', 'no-store');
        return { workspace_id: ws.id, auth_token: token, env, files };
      },
    );

    app.post(
      '/registry/register',
      {
        schema: {
          tags: ['registry'],
          body: registerBody,
          response: {
            200: registerAnswer,
            400: errorResponse.extend({ reason: z.string().optional() }),
            401: errorResponse,
            410: errorResponse,
            500: errorResponse,
          },
        },
      },
      async (request, reply) => {
        const { workspace_id: workspaceId, url, delivery_mode: requestedMode } = request.body;
        const token = bearerToken(request);
        // A5.5: an external workspace with no live token registers without one (no Authorization header
        // at all) and gets its first token in the answer; every other register needs its bearer token.
        const tokenless = request.headers.authorization === undefined && (await deps.store.tokenlessRegisterAllowed(workspaceId));
        if (!tokenless) await authenticate(token, workspaceId);
        // After the token check: an unauthenticated caller learns nothing about what the platform refuses.
        const refusal = url ? await pushUrlRefusal(url) : null;
        if (refusal) throw new DomainError('PUSH_URL_REFUSED', 400, 'push url refused: it must be a public http(s) address', { reason: refusal });
        // Re-checks the token under the row lock: one a new provision run revoked since is refused.
        const registered = await deps.store.markRegistered(workspaceId, tokenless ? null : token, url ?? null, requestedMode).catch((err: unknown) => {
          if (!(err instanceof RegistrationFailed)) throw err;
          request.log.error({ err: err.cause, workspaceId }, 'registration failed');
          throw new DomainError('REGISTRATION_FAILED', 500, 'registration failed', { request_id: request.id });
        });
        if (registered.outcome === 'url_required') {
          throw new DomainError('PUSH_URL_REQUIRED', 400, 'delivery_mode push needs a url: give the address the agent takes work at, or register with delivery_mode poll');
        }
        if (registered.outcome === 'paused') {
          throw new DomainError('WORKSPACE_PAUSED', 409, 'workspace is paused or hibernated: resume or wake it, and its agent gets new credentials');
        }
        if (registered.outcome !== 'registered') throw registered.outcome === 'removed' ? removed() : unauthorized();
        // The row says online before the workflow hears it; if this signal is lost the workflow
        // re-reads the row at its deadline. The token's run goes with it: a provision counts only a
        // registration made with the credentials it minted itself.
        await deps.workflows.signalRegistered(workspaceId, registered.runId);
        request.log.info({ workspaceId, deliveryMode: registered.deliveryMode, firstToken: registered.newToken !== null }, 'agent registered');
        // A token in the answer must not sit in a proxy's or client's cache.
        if (registered.newToken) void reply.header('cache-control', 'no-store');
        return {
          status: 'registered' as const,
          delivery_mode: registered.deliveryMode,
          ...(registered.newToken ? { auth_token: registered.newToken } : {}),
          ...(registered.answer.inboundSecret ? { platform_inbound_secret: registered.answer.inboundSecret } : {}),
        };
      },
    );

    app.post(
      '/registry/heartbeat',
      { schema: { tags: ['registry'], body: heartbeatBody, response: { 200: agentAnswer, 400: errorResponse, 401: errorResponse, 410: errorResponse } } },
      async (request) => {
        await authenticate(bearerToken(request), request.body.workspace_id);
        // The report and every status change it causes (recovery, degraded in or out) with its event
        // are one statement; see record_heartbeat in migration 011.
        const beat = await deps.store.recordHeartbeat(request.body.workspace_id, heartbeatReport(request.body));
        if (!beat) throw removed();
        return { status: beat.status, platform_inbound_secret: beat.inboundSecret };
      },
    );
  };
