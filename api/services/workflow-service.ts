// Starts and inspects workflows for the API. Nothing here waits on compute: the API answers in
// milliseconds and the workflows do the work.
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type Client, type WorkflowHandle } from '@temporalio/client';
import { TypedSearchAttributes } from '@temporalio/common';
import { WorkflowIdConflictPolicy, WorkflowIdReusePolicy } from '@temporalio/common';
import { DomainError } from '../../domain/errors';
import { ProvisionPhaseKey, WorkspaceIdKey, WorkspaceNameKey, WorkspaceRuntimeKey } from '../../domain/search-attributes';
import { workspaceNameAttribute, workspaceSummary, type WorkspaceLabel } from '../../domain/workflow-summary';
import { FAILURE_TYPES } from '../../domain/errors';
import { workflowIds, type Runtime } from '../../domain/vocabulary';
import { signalRestart } from '../../activities/restart-requests';
import {
  agentRegisteredSignal,
  type ProvisionInput,
  type ProvisionResult,
  type DeleteTreeInput,
  type DeleteTreeResult,
} from '../../workflows/definitions';
import type { OperationView } from '../schemas';
import { resultWithin } from './result-within';
import { singleFlight } from './single-flight';

export interface WorkflowServiceDeps {
  client: Client;
  taskQueue: string;
  /** A person's restart gives the workspace a fresh automatic-restart budget (issue 17). */
  resetAutoRestart: (workspaceId: string) => Promise<void>;
  /** The workspace's name, runtime and compute, for the summary its runs show in the Temporal UI. */
  workspaceLabel?: (workspaceId: string) => Promise<WorkspaceLabel | null>;
}

/** Pending-activity failures are internal (engine messages); users see only what kind of trouble it is. */
function sanitizeActivityFailure(message: string | null | undefined, type: string | null | undefined): string | null {
  if (!message && !type) return null;
  if (type && (Object.values(FAILURE_TYPES) as string[]).includes(type)) return type;
  return 'transient error; retrying';
}

export type ProvisionOperation = Omit<OperationView, 'last_failure'>;

/**
 * The operation as GET /workspaces/:id shows it. Every failure a provision marks on the row
 * (markProvisionFailed, prepare's decrypt/missing-env marking) is the same sanitized sentence it fails
 * its workflow with, so the row read in parallel supplies last_failure.
 */
export function operationWithFailure(operation: ProvisionOperation, row: { last_sample_error: string | null }): OperationView {
  return { ...operation, last_failure: operation.status === 'FAILED' ? (row.last_sample_error?.slice(0, 500) ?? null) : null };
}

export function createWorkflowService({ client, taskQueue, resetAutoRestart, workspaceLabel = async () => null }: WorkflowServiceDeps) {
  async function manualRestart(workspaceId: string, rebuildConfig: boolean, label?: WorkspaceLabel): Promise<{ workflowId: string; runId: string }> {
    // Reset first: an automatic restart still pending is void by the time the request lands. The label
    // comes from the caller's row when it has one (bench B3: one round trip less per answer).
    const [, named] = await Promise.all([resetAutoRestart(workspaceId), label ?? workspaceLabel(workspaceId)]);
    return signalRestart(client, taskQueue, workspaceId, { rebuildConfig }, named);
  }

  /** Summary and WorkspaceName of a run about one workspace (its id when the row is not found). */
  function naming(action: string, workspaceId: string, label: WorkspaceLabel | null) {
    return label
      ? { staticSummary: workspaceSummary(action, label), names: [{ key: WorkspaceNameKey, value: workspaceNameAttribute(label.name) }] }
      : { staticSummary: `${action} workspace ${workspaceId}`, names: [] };
  }

  return {
    /**
     * Starts (or attaches to) the delete cascade of a subtree and waits up to `waitMs` for its result.
     * The workflow never depends on the request: on timeout the caller answers 202 with its id.
     *
     * A second DELETE while one runs attaches to it, except that a purge never attaches to a cascade
     * that will not purge (its 200 would claim a purge that did not happen): that is a 409, and the
     * purge can be repeated once the running delete has ended. Whether a run purges is in its memo.
     */
    async deleteTree(rootId: string, purge: boolean, waitMs: number): Promise<{ workflowId: string; runId: string; result: DeleteTreeResult | null }> {
      const workflowId = workflowIds.deleteTree(rootId);
      let handle: WorkflowHandle;
      let runId: string;
      const { staticSummary, names } = naming(purge ? 'delete (purge)' : 'delete', rootId, await workspaceLabel(rootId));
      try {
        const started = await client.workflow.start('deleteWorkspaceTree', {
          taskQueue,
          workflowId,
          args: [{ rootId, purge } satisfies DeleteTreeInput],
          memo: { purge },
          workflowIdConflictPolicy: purge ? WorkflowIdConflictPolicy.FAIL : WorkflowIdConflictPolicy.USE_EXISTING,
          workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
          typedSearchAttributes: new TypedSearchAttributes([{ key: WorkspaceIdKey, value: rootId }, ...names]),
          staticSummary,
        });
        handle = started;
        runId = started.firstExecutionRunId;
      } catch (err) {
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
        const running = await client.workflow.getHandle(workflowId).describe();
        if (running.memo?.purge !== true) {
          throw new DomainError('DELETE_IN_PROGRESS', 409, 'a delete without purge is running for this workspace; repeat the purge when it has ended', {
            workflow_id: workflowId,
            run_id: running.runId,
          });
        }
        handle = client.workflow.getHandle(workflowId, running.runId);
        runId = running.runId;
      }
      const result = await resultWithin(handle.result() as Promise<DeleteTreeResult>, waitMs);
      return { workflowId, runId, result };
    },

    async startProvision(workspace: { id: string; name: string; runtime: Runtime; compute: string }, input: Omit<ProvisionInput, 'workspaceId'>) {
      const workflowId = workflowIds.provision(workspace.id);
      try {
        const handle = await client.workflow.start('provisionWorkspace', {
          taskQueue,
          workflowId,
          args: [{ workspaceId: workspace.id, ...input } satisfies ProvisionInput],
          // One provision per workspace at a time; a finished one may be followed by a new run.
          workflowIdConflictPolicy: WorkflowIdConflictPolicy.FAIL,
          workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
          typedSearchAttributes: new TypedSearchAttributes([
            { key: WorkspaceIdKey, value: workspace.id },
            { key: WorkspaceRuntimeKey, value: workspace.runtime },
            { key: ProvisionPhaseKey, value: 'queued' },
            { key: WorkspaceNameKey, value: workspaceNameAttribute(workspace.name) },
          ]),
          // The Temporal UI's list and detail pages say which workspace this run is about.
          staticSummary: workspaceSummary('provision', workspace),
        });
        return { workflowId, runId: handle.firstExecutionRunId, handle };
      } catch (err) {
        if (err instanceof WorkflowExecutionAlreadyStartedError) {
          const running = await client.workflow.getHandle(workflowId).describe();
          throw new DomainError('PROVISION_IN_PROGRESS', 409, 'a provision of this workspace is already running', {
            workflow_id: workflowId,
            run_id: running.runId,
          });
        }
        throw err;
      }
    },

    async provisionResult(workflowId: string, runId: string): Promise<ProvisionResult> {
      return client.workflow.getHandle<() => Promise<ProvisionResult>>(workflowId, runId).result();
    },

    /**
     * Signal-with-start on restart-<id>: starts a restart if none runs, otherwise adds a request to the
     * running one (which then runs exactly one more cycle). Holds across API replicas.
     *
     * Requests for the same workspace that arrive while this process's signal-with-start is still in
     * flight share it: their secrets were saved before that signal reached the workflow, and a cycle
     * reads secrets only later (after its stop), so one signal covers them all.
     */
    requestRestart: singleFlight((workspaceId: string, rebuildConfig: boolean, _label?: WorkspaceLabel) => `${workspaceId}:${rebuildConfig}`, manualRestart),

    /**
     * Tells a running provision that its agent registered, with the run that minted the agent's token
     * (the workflow ignores another run's). No running provision: nothing to tell.
     */
    async signalRegistered(workspaceId: string, runId: string | null): Promise<void> {
      try {
        await client.workflow.getHandle(workflowIds.provision(workspaceId)).signal(agentRegisteredSignal, { runId });
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) return;
        throw err;
      }
    },

    /**
     * The live (or last) provision operation of a workspace, or null if it never had one. Its
     * `last_failure` is the caller's to fill (see operationWithFailure): asking the workflow would take
     * one more round-trip on the hot read path for a sentence the workspace row already holds.
     */
    describeProvision: singleFlight((workspaceId: string) => workspaceId, async (workspaceId: string): Promise<ProvisionOperation | null> => {
      const handle = client.workflow.getHandle(workflowIds.provision(workspaceId));
      let description: Awaited<ReturnType<typeof handle.describe>>;
      try {
        description = await handle.describe();
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) return null;
        throw err;
      }
      // The workflow upserts ProvisionPhase at every phase change, so describe() already carries it:
      // no query round-trip through a worker on this hot path.
      const phase = description.typedSearchAttributes.get(ProvisionPhaseKey) ?? null;
      const pending = description.raw.pendingActivities?.[0];
      return {
        workflow_id: description.workflowId,
        run_id: description.runId,
        type: description.type,
        status: description.status.name,
        phase,
        pending_activity: pending
          ? {
              type: pending.activityType?.name ?? 'unknown',
              attempt: pending.attempt ?? 1,
              last_failure: sanitizeActivityFailure(pending.lastFailure?.message, pending.lastFailure?.applicationFailureInfo?.type),
            }
          : null,
      };
    }),
  };
}

export type WorkflowService = ReturnType<typeof createWorkflowService>;
