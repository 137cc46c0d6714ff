// Writes that restart (SPEC-ADDENDUM A3): a saved or deleted secret, model, provider or file reaches
// the agent only through a new container/instance, so after the write commits the coalesced restart
// workflow is requested (signal-with-start: a burst of writes costs at most one extra cycle).
import type { WorkspaceRow } from '../../activities/workspace-store';
import { restartsOnConfigWrite } from '../../domain/workspace-defaults';
import type { WorkflowService } from './workflow-service';

export interface RestartRequested {
  workflow_id: string;
  run_id: string;
}

/** How many restart requests a global write sends at once (each is one signal-with-start). */
const FAN_OUT = 16;

export function createRestartAfterWrite(workflows: WorkflowService) {
  return {
    /** The restart requested for this workspace, or null when its status or runtime does not take one. */
    /** `rebuildConfig`: the restart also recreates the config volume, so /configs is written anew. */
    async one(row: Pick<WorkspaceRow, 'id' | 'compute' | 'status' | 'provision_run_id'>, rebuildConfig = false): Promise<RestartRequested | null> {
      if (!restartsOnConfigWrite(row)) return null;
      const started = await workflows.requestRestart(row.id, rebuildConfig);
      return { workflow_id: started.workflowId, run_id: started.runId };
    },

    /** Restarts every given workspace, FAN_OUT at a time; one that cannot be asked is counted, not fatal. */
    async many(workspaceIds: string[]): Promise<{ requested: number; failed: number }> {
      let requested = 0;
      let failed = 0;
      let next = 0;
      const lane = async () => {
        while (next < workspaceIds.length) {
          const id = workspaceIds[next++];
          try {
            await workflows.requestRestart(id, false);
            requested++;
          } catch {
            failed++;
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(FAN_OUT, workspaceIds.length) }, lane));
      return { requested, failed };
    },
  };
}

export type RestartAfterWrite = ReturnType<typeof createRestartAfterWrite>;
