// Automatic restarts of dead agents (SPEC-ADDENDUM A1.2, A9; issue 17). A liveness pass moves a dead
// platform agent offline; this claims its restart on the row (crash-loop budget: AUTO_RESTART_MAX_ATTEMPTS
// per AUTO_RESTART_WINDOW_SECONDS, exponential backoff) and requests it from the workspace's one
// restart workflow, so a manual and an automatic restart never run side by side. Never for external
// runtimes, removed, paused or hibernated rows, or under a paused parent (the claim's guards).
import type { Client } from '@temporalio/client';
import type { Config } from '../config';
import type { AutoRestartRequest } from '../domain/restart-contract';
import type { MinimalLogger } from './docker-compute';
import { signalRestart } from './restart-requests';
import type { AutoRestartPolicy, WorkspaceStore } from './workspace-store';

/** Rows one pass claims or re-requests at most; the next pass (15 s later) takes the rest. */
const PASS_LIMIT = 200;
/** A claim no restart cycle took up after this long is requested again (its request may be lost). */
const RESEND_AFTER_SECONDS = 60;

export interface AutoRestartFinding {
  workspaceId: string;
  action: 'auto_restart_requested' | 'auto_restart_repeated' | 'crash_loop_failed';
  attempt: number;
}

export function autoRestartPolicy(config: Config): AutoRestartPolicy {
  return {
    maxAttempts: config.AUTO_RESTART_MAX_ATTEMPTS,
    windowSeconds: config.AUTO_RESTART_WINDOW_SECONDS,
    backoffSeconds: config.AUTO_RESTART_BACKOFF_SECONDS,
    backoffMaxSeconds: config.AUTO_RESTART_BACKOFF_MAX_SECONDS,
  };
}

function minutes(seconds: number): string {
  return seconds % 60 === 0 ? `${seconds / 60} min` : `${seconds} s`;
}

/** The failed workspace's reason (last_failure): sanitized, fixed text, no engine words. */
export function crashLoopReason(policy: AutoRestartPolicy): string {
  return `Crash loop: the agent died ${policy.maxAttempts} times within ${minutes(policy.windowSeconds)} despite automatic restarts, so they stopped. Fix the cause, then restart the workspace.`;
}

export interface AutoRestarterDeps {
  store: WorkspaceStore;
  config: Config;
  log: MinimalLogger;
  temporal?: Client;
}

export function createAutoRestarter({ store, config, log, temporal }: AutoRestarterDeps) {
  const policy = autoRestartPolicy(config);
  const reason = crashLoopReason(policy);
  const request = async (workspaceId: string, auto: AutoRestartRequest) =>
    signalRestart(temporal as Client, config.TASK_QUEUE, workspaceId, { rebuildConfig: false, auto }, await store.getWorkspace(workspaceId));

  return {
    policy,

    /** After a failed automatic cycle: the next attempt, or null (exhausted: the row is failed; or void). */
    async claimNext(workspaceId: string, servedSeq: number): Promise<AutoRestartRequest | null> {
      const claim = await store.claimAutoRestart({ workspaceId, trigger: 'cycle_failed', servedSeq, policy, reason });
      if (claim.outcome !== 'restart') return null;
      return { seq: claim.seq, attempt: claim.attempt, maxAttempts: policy.maxAttempts, delaySeconds: claim.delaySeconds };
    },

    /**
     * Claims and requests the restart of every dead agent no claim covers yet, and requests again the
     * claims no cycle took up. Off (AUTO_RESTART=off) or without a Temporal client it does nothing.
     */
    async requestDue(): Promise<AutoRestartFinding[]> {
      if (config.AUTO_RESTART !== 'on' || !temporal) return [];
      const findings: AutoRestartFinding[] = [];
      for (const workspaceId of await store.listAutoRestartDue(PASS_LIMIT)) {
        const claim = await store.claimAutoRestart({ workspaceId, trigger: 'dead', policy, reason });
        if (claim.outcome === 'skip') continue;
        if (claim.outcome === 'exhausted') {
          findings.push({ workspaceId, action: 'crash_loop_failed', attempt: claim.attempt });
          continue;
        }
        await request(workspaceId, { seq: claim.seq, attempt: claim.attempt, maxAttempts: policy.maxAttempts, delaySeconds: claim.delaySeconds });
        findings.push({ workspaceId, action: 'auto_restart_requested', attempt: claim.attempt });
      }
      for (const due of await store.listUnservedAutoRestarts(RESEND_AFTER_SECONDS, PASS_LIMIT)) {
        // The backoff has passed by now: the repeated request asks for no further wait.
        await request(due.id, { seq: due.seq, attempt: due.attempt, maxAttempts: policy.maxAttempts, delaySeconds: 0 });
        findings.push({ workspaceId: due.id, action: 'auto_restart_repeated', attempt: due.attempt });
      }
      for (const f of findings) log.info({ autoRestart: true, ...f }, 'auto-restart');
      return findings;
    },
  };
}

export type AutoRestarter = ReturnType<typeof createAutoRestarter>;
