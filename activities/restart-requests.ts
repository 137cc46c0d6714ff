// The one way a restart is requested, by the API (a person) or by the liveness pass (an automatic
// restart): signal-with-start on restart-<workspaceId>, so every request of a workspace, from any API
// replica or worker, lands in its one restart workflow and is coalesced there.
import { TypedSearchAttributes, WorkflowIdReusePolicy } from '@temporalio/common';
import type { Client } from '@temporalio/client';
import { WorkspaceIdKey, WorkspaceNameKey } from '../domain/search-attributes';
import { workflowIds } from '../domain/vocabulary';
import { workspaceNameAttribute, workspaceSummary, type WorkspaceLabel } from '../domain/workflow-summary';
import { RESTART_REQUESTED_SIGNAL, type RestartInput, type RestartRequest } from '../domain/restart-contract';

export async function signalRestart(
  client: Client,
  taskQueue: string,
  workspaceId: string,
  request: RestartRequest,
  /** Names the workspace in the run's summary and WorkspaceName (null: a row gone meanwhile; its id then). */
  workspace: WorkspaceLabel | null,
): Promise<{ workflowId: string; runId: string }> {
  const workflowId = workflowIds.restart(workspaceId);
  const what = workspace ? workspaceSummary('', workspace).trimStart() : `workspace ${workspaceId}`;
  const handle = await client.workflow.signalWithStart('restartWorkspace', {
    taskQueue,
    workflowId,
    // The label names the restart's provision child in the UI too (only read when this starts a run).
    // Only the label's three fields: a caller may hand in a wider row, which must not reach the history.
    args: [(workspace ? { workspaceId, workspace: { name: workspace.name, runtime: workspace.runtime, compute: workspace.compute } } : { workspaceId }) satisfies RestartInput],
    signal: RESTART_REQUESTED_SIGNAL,
    signalArgs: [request],
    workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
    typedSearchAttributes: new TypedSearchAttributes([
      { key: WorkspaceIdKey, value: workspaceId },
      ...(workspace ? [{ key: WorkspaceNameKey, value: workspaceNameAttribute(workspace.name) }] : []),
    ]),
    // Shown in the Temporal UI's list and detail pages for the run this request starts.
    staticSummary: request.auto
      ? `auto-restart ${what}, attempt ${request.auto.attempt} of ${request.auto.maxAttempts}`
      : `restart ${what}`,
  });
  return { workflowId, runId: handle.signaledRunId };
}
