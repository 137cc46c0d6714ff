// Pause, resume, hibernate and wake (SPEC-ADDENDUM A10). The routes check what they can answer at
// once (404, 409, 503) and hand the rest to the workflows: pause/resume answer when their claim has
// committed, hibernate when its workflow has ended, wake when the provision has started.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { WorkspaceRow } from '../../activities/workspace-store';
import { DomainError } from '../../domain/errors';
import type { ApiDeps } from '../deps';
import { notFound } from '../errors';
import { errorResponse, hibernateQuery, idParams } from '../schemas';
import { createPowerWorkflows } from '../services/power-workflows';

const notPaused = () => new DomainError('NOT_FOUND', 404, 'workspace not found or not paused');
const notHibernatable = () => new DomainError('NOT_FOUND', 404, 'workspace not found or not online');
const notHibernated = () => new DomainError('NOT_FOUND', 404, 'workspace not found or not hibernated');
const conflict = errorResponse.extend({ active_tasks: z.number().optional() });

/** Starts the provision of a workspace a wake claimed; a start that fails marks it failed (it can be provisioned again). */
export async function startWakeProvision(deps: ApiDeps, row: Pick<WorkspaceRow, 'id' | 'name' | 'runtime' | 'compute'>): Promise<{ workflowId: string; runId: string }> {
  try {
    const started = await deps.workflows.startProvision(row, { model: null });
    return { workflowId: started.workflowId, runId: started.runId };
  } catch (err) {
    if (err instanceof DomainError) throw err;
    await deps.store.setStatus(row.id, 'failed', { lastSampleError: 'the provision workflow could not be started; retry with POST /workspaces/:id/provision' });
    throw new DomainError('PROVISION_NOT_STARTED', 503, 'the provision workflow could not be started; retry with POST /workspaces/:id/provision');
  }
}

/** Claims hibernated → provisioning (A10.5), or says why it cannot (404 not hibernated, 409 still hibernating). */
export async function claimWakeOrThrow(deps: ApiDeps, id: string): Promise<void> {
  const outcome = await deps.store.claimWake(id);
  if (outcome === 'woken') return;
  if (outcome === 'hibernating') throw new DomainError('WORKSPACE_HIBERNATING', 409, 'the workspace is still hibernating; wake it once it is hibernated');
  throw notHibernated();
}

export const workspacePowerRoutes =
  (deps: ApiDeps): FastifyPluginAsyncZod =>
  async (app) => {
    app.addHook('onRequest', deps.adminGuard);
    const power = createPowerWorkflows({ client: deps.temporal, taskQueue: deps.config.TASK_QUEUE });

    app.post(
      '/workspaces/:id/pause',
      {
        schema: {
          tags: ['workspaces'],
          params: idParams,
          description: 'Stops the workspace and its descendants; rows, ids and /configs volumes are kept, tokens revoked (A10.1).',
          response: { 200: z.object({ status: z.literal('paused'), paused_count: z.number() }), 400: errorResponse, 404: errorResponse },
        },
      },
      async (request) => {
        const row = await deps.store.getWorkspace(request.params.id);
        if (!row || row.status === 'removed' || row.status === 'paused') throw new DomainError('NOT_FOUND', 404, 'workspace not found or already paused');
        const count = await power.pause(row);
        return { status: 'paused' as const, paused_count: count };
      },
    );

    app.post(
      '/workspaces/:id/resume',
      {
        schema: {
          tags: ['workspaces'],
          params: idParams,
          description: 'Provisions the paused workspace and its paused descendants again, parents first (A10.2).',
          response: {
            200: z.object({ status: z.literal('provisioning'), resumed_count: z.number() }),
            400: errorResponse,
            404: errorResponse,
            409: errorResponse,
            503: errorResponse,
          },
        },
      },
      async (request) => {
        const row = await deps.store.getWorkspace(request.params.id);
        if (!row || row.status !== 'paused') throw notPaused();
        if (row.parent_id) {
          const parent = await deps.store.getWorkspace(row.parent_id);
          if (parent?.status === 'paused') throw new DomainError('PARENT_PAUSED', 409, 'the parent workspace is paused; resume it (or an ancestor) instead');
        }
        const kinds = await deps.store.pausedComputeKinds(row.id);
        if (kinds.some((k) => k !== 'none' && !deps.config.computeProviders.has(k))) {
          throw new DomainError('COMPUTE_NOT_CONFIGURED', 503, 'a compute provider these workspaces need is not configured on this platform');
        }
        if (await power.pauseRunning(row.id)) {
          throw new DomainError('PAUSE_IN_PROGRESS', 409, 'the pause of this workspace is still stopping compute; retry when it has finished');
        }
        const count = await power.resume(row);
        // The claim found nothing: a concurrent resume, delete or parent pause got there first.
        if (count === 0) throw notPaused();
        return { status: 'provisioning' as const, resumed_count: count };
      },
    );

    app.post(
      '/workspaces/:id/hibernate',
      {
        schema: {
          tags: ['workspaces'],
          params: idParams,
          querystring: hibernateQuery,
          description: 'Stops an online/degraded workspace, keeping its /configs volume; POST /workspaces/:id/wake brings it back (A10.3).',
          response: {
            200: z.object({ status: z.literal('hibernated') }),
            400: errorResponse,
            404: errorResponse,
            409: conflict,
            500: errorResponse,
          },
        },
      },
      async (request) => {
        const force = request.query.force === 'true';
        const row = await deps.store.getWorkspace(request.params.id);
        if (!row || (row.status !== 'online' && row.status !== 'degraded')) throw notHibernatable();
        if (row.active_tasks > 0 && !force) {
          throw new DomainError('ACTIVE_TASKS', 409, 'the agent reports active tasks; retry later or with ?force=true', { active_tasks: row.active_tasks });
        }
        const result = await power.hibernate(row, force);
        switch (result.outcome) {
          case 'hibernated':
            return { status: 'hibernated' as const };
          case 'not_claimed':
            throw new DomainError('HIBERNATE_CONFLICT', 409, 'the workspace could not be hibernated: it is no longer online, or it has active tasks', {
              active_tasks: result.activeTasks,
            });
          case 'superseded':
            throw new DomainError('HIBERNATE_SUPERSEDED', 409, 'a pause or delete took the workspace over while it was hibernating');
          case 'stop_failed':
            throw new DomainError('STOP_FAILED', 500, 'the workspace could not be stopped; it keeps running as before');
        }
      },
    );

    app.post(
      '/workspaces/:id/wake',
      {
        preHandler: deps.requireSecretsKey,
        schema: {
          tags: ['workspaces'],
          params: idParams,
          description: 'Provisions a hibernated workspace again, on its kept /configs volume (A10.5).',
          response: { 200: z.object({ status: z.literal('provisioning') }), 400: errorResponse, 404: errorResponse, 409: errorResponse, 503: errorResponse },
        },
      },
      async (request) => {
        const row = await deps.store.getWorkspace(request.params.id);
        if (!row) throw notFound('workspace');
        if (row.compute !== 'none' && !deps.config.computeProviders.has(row.compute)) {
          throw new DomainError('COMPUTE_NOT_CONFIGURED', 503, 'the compute provider of this workspace is not configured on this platform');
        }
        await claimWakeOrThrow(deps, row.id);
        await startWakeProvision(deps, row);
        return { status: 'provisioning' as const };
      },
    );
  };
