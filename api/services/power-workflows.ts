// Starts the pause, resume and hibernate workflows for the API (SPEC-ADDENDUM A10). Pause and resume
// answer as soon as their claim has committed: update-with-start on pause-<root> / resume-<root>, whose
// update handler returns once the claim step is done (USE_EXISTING: a second request attaches to the
// run in progress). Hibernate is one workspace: the API waits for its result.
import { WithStartWorkflowOperation, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { TypedSearchAttributes, WorkflowIdConflictPolicy, WorkflowIdReusePolicy } from '@temporalio/common';
import { WorkspaceIdKey, WorkspaceNameKey } from '../../domain/search-attributes';
import { workflowIds } from '../../domain/vocabulary';
import { workspaceNameAttribute, workspaceSummary, type WorkspaceLabel } from '../../domain/workflow-summary';
import {
  pauseClaimedUpdate,
  resumeClaimedUpdate,
  type HibernateInput,
  type HibernateResult,
  type PauseTreeInput,
  type ResumeTreeInput,
} from '../../workflows/definitions';

type Workspace = WorkspaceLabel & { id: string };

export function createPowerWorkflows({ client, taskQueue }: { client: Client; taskQueue: string }) {
  /** Options of a start; the summary and WorkspaceName say in the Temporal UI which workspace it is about. */
  const common = (workflowId: string, action: string, workspace: Workspace) => ({
    taskQueue,
    workflowId,
    workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
    workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
    typedSearchAttributes: new TypedSearchAttributes([
      { key: WorkspaceIdKey, value: workspace.id },
      { key: WorkspaceNameKey, value: workspaceNameAttribute(workspace.name) },
    ]),
    staticSummary: workspaceSummary(action, workspace),
  });

  return {
    /** Starts (or joins) pause-<rootId> and answers how many workspaces its claim paused. */
    async pause(root: Workspace): Promise<number> {
      const rootId = root.id;
      const start = new WithStartWorkflowOperation('pauseTree', { ...common(workflowIds.pauseTree(rootId), 'pause', root), args: [{ rootId } satisfies PauseTreeInput] });
      const { count } = await client.workflow.executeUpdateWithStart(pauseClaimedUpdate, { startWorkflowOperation: start });
      return count;
    },

    /** Starts (or joins) resume-<rootId> and answers how many workspaces its claim moved to provisioning. */
    async resume(root: Workspace): Promise<number> {
      const rootId = root.id;
      const start = new WithStartWorkflowOperation('resumeTree', { ...common(workflowIds.resumeTree(rootId), 'resume', root), args: [{ rootId } satisfies ResumeTreeInput] });
      const { count } = await client.workflow.executeUpdateWithStart(resumeClaimedUpdate, { startWorkflowOperation: start });
      return count;
    },

    /**
     * Whether pause-<rootId> is still stopping compute: a resume now would have its new provisions
     * cancelled by that pause's cancel step, so it waits (409) until the pause has finished.
     */
    async pauseRunning(rootId: string): Promise<boolean> {
      try {
        return (await client.workflow.getHandle(workflowIds.pauseTree(rootId)).describe()).status.name === 'RUNNING';
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) return false;
        throw err;
      }
    },

    /** Runs (or joins) hibernate-<id> and waits for its outcome. */
    async hibernate(workspace: Workspace, force: boolean): Promise<HibernateResult> {
      const workspaceId = workspace.id;
      const handle = await client.workflow.start('hibernateWorkspace', {
        ...common(workflowIds.hibernate(workspaceId), force ? 'hibernate (forced)' : 'hibernate', workspace),
        args: [{ workspaceId, force } satisfies HibernateInput],
      });
      return (await handle.result()) as HibernateResult;
    },
  };
}

export type PowerWorkflows = ReturnType<typeof createPowerWorkflows>;
