// The one way a restart is requested, by the API (a person) or by the liveness pass (an automatic
// restart): signal-with-start on restart-<workspaceId>, so every request of a workspace, from any API
// replica or worker, lands in its one restart workflow and is coalesced there.
import { TypedSearchAttributes, WorkflowIdReusePolicy } from '@temporalio/common';
import type { Client } from '@temporalio/client';
import { WorkspaceIdKey } from '../domain/search-attributes';
import { workflowIds } from '../domain/vocabulary';
import { RESTART_REQUESTED_SIGNAL, type RestartInput, type RestartRequest } from '../domain/restart-contract';

export async function signalRestart(
  client: Client,
  taskQueue: string,
  workspaceId: string,
  request: RestartRequest,
): Promise<{ workflowId: string; runId: string }> {
  const workflowId = workflowIds.restart(workspaceId);
  const handle = await client.workflow.signalWithStart('restartWorkspace', {
    taskQueue,
    workflowId,
    args: [{ workspaceId } satisfies RestartInput],
    signal: RESTART_REQUESTED_SIGNAL,
    signalArgs: [request],
    workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
    typedSearchAttributes: new TypedSearchAttributes([{ key: WorkspaceIdKey, value: workspaceId }]),
    // Shown in the Temporal UI's list and detail pages for the run this request starts.
    staticSummary: request.auto
      ? `auto-restart of workspace ${workspaceId}, attempt ${request.auto.attempt} of ${request.auto.maxAttempts}`
      : `restart of workspace ${workspaceId}`,
  });
  return { workflowId, runId: handle.signaledRunId };
}
