// The restart workflow's two steps of an automatic restart (issue 17): take a claim up right before
// its cycle, and after a failed automatic cycle claim the next attempt (or, past the budget, leave
// the workspace failed with the crash-loop reason). Both are single statements, safe to run twice.
import type { AutoRestartRequest } from '../domain/restart-contract';
import { createAutoRestarter, type AutoRestarterDeps } from './auto-restarter';

export function createAutoRestartActivities(deps: AutoRestarterDeps) {
  const restarter = createAutoRestarter(deps);
  return {
    async beginAutoRestart(input: { workspaceId: string; seq: number }): Promise<boolean> {
      return deps.store.beginAutoRestart(input.workspaceId, input.seq);
    },

    async claimNextAutoRestart(input: { workspaceId: string; servedSeq: number }): Promise<AutoRestartRequest | null> {
      return restarter.claimNext(input.workspaceId, input.servedSeq);
    },
  };
}

export type AutoRestartActivities = ReturnType<typeof createAutoRestartActivities>;
