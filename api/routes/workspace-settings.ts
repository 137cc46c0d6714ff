// What an operator changes on a workspace after it exists (SPEC-ADDENDUM A12.1-2): PATCH of its names,
// tier, runtime, parent, canvas and host settings; its budget, read and set on a route of its own (GET
// /workspaces/:id omits the budget fields).
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { BudgetState } from '../../activities/store/workspace-settings';
import type { WorkspacePatch } from '../../activities/workspace-store';
import { DomainError } from '../../domain/errors';
import type { ApiDeps } from '../deps';
import { notFound, workspaceRemoved } from '../errors';
import { budgetBody, errorResponse, idParams, patchWorkspaceBody } from '../schemas';

const budgetView = z.object({
  budget_limit: z.number().nullable().describe('cents; null: no limit'),
  monthly_spend: z.number().describe('cents, as the agent reports it'),
  budget_remaining: z.number().nullable().describe('budget_limit - monthly_spend (negative when overspent); null without a limit'),
});

function toBudgetView(state: BudgetState) {
  return {
    budget_limit: state.budget_limit,
    monthly_spend: state.monthly_spend,
    budget_remaining: state.budget_limit === null ? null : state.budget_limit - state.monthly_spend,
  };
}

export const workspaceSettingsRoutes =
  (deps: ApiDeps): FastifyPluginAsyncZod =>
  async (app) => {
    app.addHook('onRequest', deps.adminGuard);

    app.patch(
      '/workspaces/:id',
      {
        schema: {
          tags: ['workspaces'],
          params: idParams,
          body: patchWorkspaceBody,
          response: {
            200: z.object({ status: z.literal('updated'), needs_restart: z.boolean().optional().describe('workspace_dir or runtime changed: takes effect at the next restart') }),
            400: errorResponse,
            404: errorResponse,
            409: errorResponse,
            410: errorResponse.extend({ id: z.string(), removed_at: z.string().nullable(), hint: z.string() }),
          },
        },
      },
      async (request) => {
        const { id } = request.params;
        const body = request.body;
        if (body.parent_id === id) throw new DomainError('INVALID_PARENT', 400, 'a workspace cannot be its own parent');
        const patch: WorkspacePatch = {
          name: body.name,
          role: body.role,
          runtime: body.runtime,
          tier: body.tier,
          parentId: body.parent_id,
          collapsed: body.collapsed,
          workspaceDir: body.workspace_dir,
          position: body.x !== undefined && body.y !== undefined ? { x: body.x, y: body.y } : undefined,
          hibernationIdleMinutes: body.hibernation_idle_minutes,
        };
        const result = await deps.store.patchWorkspace(id, patch);
        switch (result.outcome) {
          case 'missing':
            throw notFound('workspace');
          case 'removed':
            throw workspaceRemoved((await deps.store.getWorkspace(id)) ?? undefined);
          case 'parent_missing':
            throw notFound('parent workspace');
          case 'parent_cycle':
            throw new DomainError('PARENT_CYCLE', 409, 'the new parent is a descendant of this workspace; the tree must stay acyclic');
          case 'runtime_compute':
            throw new DomainError('RUNTIME_CHANGE_REFUSED', 409, 'a workspace cannot switch between the external runtime and one with compute; create a new workspace');
        }
        const restart = body.workspace_dir !== undefined || body.runtime !== undefined;
        return { status: 'updated' as const, ...(restart ? { needs_restart: true } : {}) };
      },
    );

    const budgetResponses = { 200: budgetView, 400: errorResponse, 404: errorResponse };

    app.get('/workspaces/:id/budget', { schema: { tags: ['workspaces'], params: idParams, response: budgetResponses } }, async (request) => {
      const state = await deps.store.getBudget(request.params.id);
      if (!state) throw notFound('workspace');
      return toBudgetView(state);
    });

    app.patch(
      '/workspaces/:id/budget',
      { schema: { tags: ['workspaces'], params: idParams, body: budgetBody, response: budgetResponses } },
      async (request) => {
        const state = await deps.store.setBudget(request.params.id, request.body.budget_limit);
        if (!state) throw notFound('workspace');
        return toBudgetView(state);
      },
    );
  };
