// What the restart workflow takes and is sent, shared by the workflow (workflows/restart.ts), the
// API and the liveness pass (activities/restart-requests.ts), so the client side needs nothing from
// workflow code. workflows/definitions.ts defines the signal with this name.
import type { WorkspaceLabel } from './workflow-summary';

/** The signal the API and the liveness pass send with signal-with-start on restart-<workspaceId>. */
export const RESTART_REQUESTED_SIGNAL = 'restartRequested';

/** One claimed automatic restart: the claim's seq, which attempt of how many, and the backoff before it. */
export interface AutoRestartRequest {
  seq: number;
  attempt: number;
  maxAttempts: number;
  delaySeconds: number;
}

export interface RestartRequest {
  rebuildConfig: boolean;
  /** Set when a liveness pass (or a failed automatic cycle) claimed an automatic restart (A9, issue 17). */
  auto?: AutoRestartRequest;
}

export interface RestartInput {
  workspaceId: string;
  /** Names the workspace in the summary of the provision each cycle starts (absent in runs before issue 18). */
  workspace?: WorkspaceLabel;
  /** Cycles before the run continues as new (default RESTART_CYCLES_PER_RUN; tests lower it). */
  cyclesPerRun?: number;
  /** Set by continue-as-new: requests the previous run had received but not yet served. */
  carried?: { requests: number; rebuildConfig: boolean; auto?: AutoRestartRequest | null };
}
