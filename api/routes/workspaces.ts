// Workspace resource: create (+ provision), read (with the live operation), re-provision, secrets.
import { resolve } from 'node:path';
import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { WorkspaceRow } from '../../activities/workspace-store';
import { DomainError } from '../../domain/errors';
import { externalConnection, externalPlatformUrl } from '../../domain/external-connection';
import { formatListCursor, parseListCursor } from '../../domain/list-cursor';
import { EVENTS, normalizeRuntime } from '../../domain/vocabulary';
import { computeFor, deliveryModeFor } from '../../domain/workspace-defaults';
import type { ApiDeps } from '../deps';
import { notFound, workspaceRemoved } from '../errors';
import { createWorkspaceBody, deleteQuery, errorResponse, getWorkspaceQuery, idParams, listWorkspacesQuery, operationView, provisionBody, restartBody, workspaceView, removedBody } from '../schemas';
import { createPushUrlCheck } from '../services/push-url';
import { resultWithin } from '../services/result-within';
import { singleFlight } from '../services/single-flight';
import { IDEMPOTENCY_DESCRIPTION, idempotencyHooks } from '../services/idempotency';
import { resolveConfigSource } from '../services/config-source';
import { liveWorkspaceLoader } from '../services/live-workspace';
import { modelSecrets, persistModel } from '../services/model-settings';
import { operationWithFailure } from '../services/workflow-service';
import { removedCountOf, stopFailureCountOf } from '../../workflows/definitions';
import { toWorkspaceView } from '../services/workspace-view';
import { claimWakeOrThrow } from './workspace-power';

/**
 * A10 / issue 17: a paused or hibernat* workspace is brought back only by resume or wake; a restart of
 * it is refused (409) with the route that does.
 */
function parkedConflict(row: WorkspaceRow): DomainError | null {
  if (row.status === 'paused') return new DomainError('WORKSPACE_PAUSED', 409, 'workspace is paused; use POST /workspaces/:id/resume');
  if (row.status === 'hibernating') return new DomainError('WORKSPACE_HIBERNATING', 409, 'workspace is hibernating; wake it with POST /workspaces/:id/wake once it is hibernated');
  if (row.status === 'hibernated') return new DomainError('WORKSPACE_HIBERNATED', 409, 'workspace is hibernated; use POST /workspaces/:id/wake');
  return null;
}

/** How long DELETE waits for the cascade before answering 202 (the reference used a 30 s detached context). */
const DELETE_WAIT_MS = 30_000;

/** last_sample_error and 503 message of a workspace whose provision workflow could not be started. */
const PROVISION_NOT_STARTED = 'the provision workflow could not be started; retry with POST /workspaces/:id/provision';

/** How long POST for an external workspace waits for its token (the workflow does no compute). */
const EXTERNAL_TOKEN_WAIT_MS = 15_000;

const provisionAccepted = z.object({
  workspace: workspaceView,
  workflow_id: z.string(),
  run_id: z.string(),
});

const connectionView = z
  .object({
    workspace_id: z.string(),
    platform_url: z.string().describe('EXTERNAL_PLATFORM_URL, else the scheme and host this request came in on'),
    auth_token: z.string().describe('shown once; "" if it could not be minted (POST /workspaces/:id/provision mints one)'),
    registry_endpoint: z.string(),
    heartbeat_endpoint: z.string(),
    curl_register_template: z.string(),
    python_snippet: z.string(),
    claude_code_channel_snippet: z.string(),
    universal_mcp_snippet: z.string(),
  })
  .describe('how to connect the external agent (A5.2); the snippets read the token from $WORKSPACE_TOKEN');

/** 201: an external workspace (A5.1-2). */
const externalCreated = z.object({
  id: z.string(),
  external: z.literal(true),
  status: z.enum(['online', 'awaiting_agent']),
  workspace: workspaceView,
  workflow_id: z.string().optional().describe('the provision run that minted the token (not for a workspace created with a url)'),
  run_id: z.string().optional(),
  auth_token: z.string().optional().describe('the same token as connection.auth_token, shown once'),
  connection: connectionView.optional().describe('without url only'),
});

const conflictBody = errorResponse.extend({ workflow_id: z.string().optional(), run_id: z.string().optional() });


export const workspaceRoutes =
  (deps: ApiDeps): FastifyPluginAsyncZod =>
  async (app) => {
    app.addHook('onRequest', deps.adminGuard);
    const view = (row: WorkspaceRow) => toWorkspaceView(row, deps.config);
    // Hot reads (GET, restart) of the same row share one query while it is in flight.
    const readRow = singleFlight((id: string) => id, (id: string) => deps.store.getWorkspace(id));

    const loadLive = liveWorkspaceLoader(readRow);
    const pushUrlRefusal = createPushUrlCheck(deps.config.pushUrlAllow);

    /**
     * Starts provisioning; for an external workspace waits for the token and returns it once, with the
     * connection (A5.2). A row created by this request is marked failed when the workflow cannot be
     * started (503): it must not stay `provisioning` with nothing behind it, and failed it can be
     * provisioned again.
     */
    async function provision(row: WorkspaceRow, model: string | undefined, request: FastifyRequest, opts: { newRow: boolean } = { newRow: false }) {
      const started = await deps.workflows.startProvision(row, { model: model ?? null }).catch(async (err: unknown) => {
        if (!opts.newRow || err instanceof DomainError) throw err;
        app.log.error({ err, workspaceId: row.id }, 'provision workflow could not be started');
        await deps.store.setStatus(row.id, 'failed', { lastSampleError: PROVISION_NOT_STARTED });
        throw new DomainError('PROVISION_NOT_STARTED', 503, PROVISION_NOT_STARTED, { workspace_id: row.id });
      });
      const base = { workflow_id: started.workflowId, run_id: started.runId };
      if (row.compute !== 'none') return { status: 202 as const, body: { workspace: view(row), ...base } };
      // A5.2: a token that could not be minted (in time) is "", and the answer is still 201: the
      // workspace exists and waits; POST /workspaces/:id/provision mints a token again.
      const result = await resultWithin(deps.workflows.provisionResult(started.workflowId, started.runId), EXTERNAL_TOKEN_WAIT_MS).catch((err: unknown) => {
        request.log.warn({ err, workspaceId: row.id }, 'external workspace: token not minted');
        return null;
      });
      const token = result?.sealedToken ? deps.box.open(result.sealedToken) : '';
      const fresh = (await deps.store.getWorkspace(row.id)) ?? row;
      const platformUrl = externalPlatformUrl(deps.config.EXTERNAL_PLATFORM_URL, { protocol: request.protocol, host: request.host }, deps.config.PLATFORM_URL);
      return {
        status: 201 as const,
        body: {
          id: row.id,
          external: true as const,
          status: 'awaiting_agent' as const,
          workspace: view(fresh),
          ...base,
          auth_token: token,
          connection: externalConnection(platformUrl, row.id, token),
        },
      };
    }

    const createIdempotency = idempotencyHooks(deps.store, 'POST /workspaces');
    app.post(
      '/workspaces',
      {
        schema: {
          tags: ['workspaces'],
          body: createWorkspaceBody,
          description: IDEMPOTENCY_DESCRIPTION,
          response: {
            201: externalCreated,
            202: provisionAccepted,
            400: errorResponse.extend({ reason: z.string().optional() }),
            404: errorResponse,
            409: conflictBody,
            422: errorResponse,
            503: errorResponse.extend({ workspace_id: z.string().optional() }),
          },
        },
        // Secrets key first: a create that could not seal its secrets must not take an idempotency key.
        preHandler: [deps.requireSecretsKey, createIdempotency.preHandler],
        onSend: createIdempotency.onSend,
      },
      async (request, reply) => {
        const body = request.body;
        const runtime = body.external ? 'external' : normalizeRuntime(body.runtime);
        const compute = computeFor(runtime, body.compute, deps.config.DEFAULT_COMPUTE);
        // A5.1/A5.6: the address an external agent already runs at is a push URL like a registered one.
        const refusal = body.url ? await pushUrlRefusal(body.url) : null;
        if (refusal) throw new DomainError('PUSH_URL_REFUSED', 400, 'url refused: it must be a public http(s) address', { reason: refusal });
        if (compute !== 'none' && !deps.config.computeProviders.has(compute)) {
          throw new DomainError('COMPUTE_NOT_CONFIGURED', 400, 'that compute provider is not configured on this platform');
        }
        if (body.parent_id) {
          const parent = await deps.store.getWorkspace(body.parent_id);
          if (!parent || parent.status === 'removed') throw notFound('parent workspace');
        }
        // The row and its secrets commit together: no workspace is ever provisioned without its secrets.
        const row = await deps.store.inTransaction(async (db) => {
          const created = await deps.store.createWorkspace({
            name: body.name,
            role: body.role,
            tier: body.tier,
            runtime,
            compute,
            parentId: body.parent_id ?? null,
            deliveryMode: deliveryModeFor(runtime, body.delivery_mode),
            updateTier: body.update_tier,
            model: body.model ?? null,
            budgetLimit: body.budget_limit ?? null,
            maxConcurrentTasks: body.max_concurrent_tasks,
            provisionTimeoutSeconds: body.provision_timeout_seconds ?? null,
            requiredEnv: body.required_env,
            url: body.url ?? null,
            hibernationIdleMinutes: body.hibernation_idle_minutes,
          }, db);
          // The status the row was created with and its event commit together (A5.1, A5.2).
          if (created.compute === 'none') {
            const event = created.status === 'online' ? EVENTS.workspaceOnline : EVENTS.workspaceAwaitingAgent;
            await deps.store.recordEvent(event, { workspaceId: created.id, payload: { name: created.name, external: true } }, db);
          }
          // A4.1: a model given here is stored as MODEL_PROVIDER (with its derived LLM_PROVIDER unless the
          // caller set one), in the same transaction as the caller's own secrets.
          const secrets = { ...modelSecrets(body.model, body.secrets?.LLM_PROVIDER !== undefined), ...(body.secrets ?? {}) };
          for (const [name, value] of Object.entries(secrets)) await deps.store.putWorkspaceSecret(created.id, name, value, db);
          return created;
        });
        if (row.status === 'online') {
          // A5.1: the agent runs already; it registers without a token and gets its first one then.
          return reply.status(201).send({ id: row.id, external: true as const, status: 'online' as const, workspace: view(row) });
        }
        const started = await provision(row, body.model, request, { newRow: true });
        // The token is in the answer: no proxy or client cache may keep it.
        if (started.status === 201) void reply.header('cache-control', 'no-store');
        return reply.status(started.status).send(started.body);
      },
    );

    app.get(
      '/workspaces',
      {
        schema: {
          tags: ['workspaces'],
          querystring: listWorkspacesQuery,
          response: {
            200: z.object({ workspaces: z.array(workspaceView), next_cursor: z.string().nullable().describe('pass as ?cursor= for the next page; null on the last') }),
            400: errorResponse,
          },
        },
      },
      async (request) => {
        const after = request.query.cursor === undefined ? null : parseListCursor(request.query.cursor);
        if (after === null && request.query.cursor !== undefined) throw new DomainError('INVALID_CURSOR', 400, 'not a cursor issued by GET /workspaces');
        const page = await deps.store.listWorkspaces({
          includeRemoved: request.query.include_removed === 'true',
          parentId: request.query.parent_id,
          limit: request.query.limit,
          after,
        });
        return { workspaces: page.rows.map(view), next_cursor: page.next && formatListCursor(page.next) };
      },
    );

    app.get(
      '/workspaces/:id',
      {
        schema: {
          tags: ['workspaces'],
          params: idParams,
          querystring: getWorkspaceQuery,
          response: { 200: workspaceView.extend({ operation: operationView.nullable() }), 404: errorResponse, 410: removedBody },
        },
      },
      async (request) => {
        // Row and live operation in parallel: this is the hot read path.
        const [row, operation] = await Promise.all([readRow(request.params.id), deps.workflows.describeProvision(request.params.id)]);
        if (!row) throw notFound('workspace');
        if (row.status === 'removed' && request.query.include_removed !== 'true') throw workspaceRemoved(row);
        return { ...view(row), operation: operation && operationWithFailure(operation, row) };
      },
    );

    app.post(
      '/workspaces/:id/provision',
      {
        preHandler: deps.requireSecretsKey,
        schema: {
          tags: ['workspaces'],
          params: idParams,
          body: provisionBody,
          response: { 201: externalCreated, 202: provisionAccepted, 404: errorResponse, 409: conflictBody, 410: removedBody, 503: errorResponse },
        },
      },
      async (request, reply) => {
        let row = await loadLive(request.params.id);
        if (row.status === 'online') {
          throw new DomainError('WORKSPACE_ONLINE', 409, 'workspace is online; use POST /workspaces/:id/restart');
        }
        // A hibernated workspace is woken by its provision (claimed hibernated -> provisioning first, so
        // begin_provision accepts it); paused and hibernating ones are not provisioned (409).
        if (row.status === 'hibernated') {
          await claimWakeOrThrow(deps, row.id);
          row = (await deps.store.getWorkspace(row.id)) ?? row;
        } else {
          const parked = parkedConflict(row);
          if (parked) throw parked;
        }
        // A4: a model given here is stored like one given at create, so the next restart keeps it.
        if (request.body?.model) await persistModel(deps.store, row.id, request.body.model);
        const { status, body } = await provision(row, request.body?.model, request);
        if (status === 201) void reply.header('cache-control', 'no-store');
        return reply.status(status).send(body);
      },
    );

    app.post(
      '/workspaces/:id/restart',
      {
        preHandler: deps.requireSecretsKey,
        schema: {
          tags: ['workspaces'],
          params: idParams,
          body: restartBody,
          response: {
            200: z.object({ status: z.literal('noop'), reason: z.string() }),
            202: z.object({
              status: z.literal('accepted'),
              workflow_id: z.string(),
              run_id: z.string(),
              config_source: z.string().describe('template:<dir>, stored (the workspace files) or volume (kept, with the user edits)'),
              reset_session: z.boolean(),
            }),
            404: errorResponse,
            409: errorResponse,
            410: removedBody,
          },
        },
      },
      async (request, reply) => {
        const row = await loadLive(request.params.id);
        const parked = parkedConflict(row);
        if (parked) throw parked;
        if (row.compute === 'none') {
          // SPEC: an external agent is not ours to restart; its tokens stay valid.
          return reply.status(200).send({ status: 'noop' as const, reason: 'external runtime: the agent runs outside the platform' });
        }
        const body = request.body ?? { rebuild_config: false };
        const source = await resolveConfigSource(resolve(deps.config.TEMPLATES_ROOT), row, body);
        if (source.kind === 'directory') await deps.store.inTransaction((db) => deps.store.replaceWorkspaceFiles(db, row.id, source.files));
        const started = await deps.workflows.requestRestart(row.id, source.kind !== 'volume', row);
        return reply.status(202).send({
          status: 'accepted' as const,
          workflow_id: started.workflowId,
          run_id: started.runId,
          config_source: source.kind === 'directory' ? `template:${source.dir}` : source.kind,
          reset_session: source.kind !== 'volume',
        });
      },
    );

    app.delete(
      '/workspaces/:id',
      {
        schema: {
          tags: ['workspaces'],
          params: idParams,
          querystring: deleteQuery,
          response: {
            200: z.object({ status: z.literal('removed'), cascade_deleted: z.number() }),
            202: z.object({ status: z.literal('accepted'), workflow_id: z.string(), run_id: z.string() }),
            404: errorResponse,
            409: errorResponse.extend({ cascade_count: z.number().optional(), workflow_id: z.string().optional(), run_id: z.string().optional() }),
            500: z.object({ error: z.string(), code: z.string(), removed_count: z.number(), stop_failures: z.array(z.object({ workspace_id: z.string(), error: z.string() })) }),
          },
        },
      },
      async (request, reply) => {
        const row = await deps.store.getWorkspace(request.params.id);
        if (!row) throw notFound('workspace');
        if (request.query.confirm !== 'true') {
          const count = (await deps.store.subtreeIds(row.id)).length;
          throw new DomainError('CONFIRM_REQUIRED', 409, 'deleting removes this workspace and all its descendants; repeat with ?confirm=true', {
            cascade_count: count,
          });
        }
        const purge = request.query.purge === 'true';
        const run = await deps.workflows.deleteTree(row.id, purge, DELETE_WAIT_MS);
        if (!run.result) return reply.status(202).send({ status: 'accepted' as const, workflow_id: run.workflowId, run_id: run.runId });
        if (stopFailureCountOf(run.result) > 0) {
          return reply.status(500).send({
            error: 'some workspaces could not be stopped; they are marked removed and the orphan sweeper will retry',
            code: 'STOP_FAILED',
            removed_count: removedCountOf(run.result),
            stop_failures: run.result.stopFailures,
          });
        }
        return reply.status(200).send({ status: 'removed' as const, cascade_deleted: removedCountOf(run.result) });
      },
    );
  };
