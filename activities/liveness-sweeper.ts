// The liveness passes (A1): agents whose heartbeats stopped. The platform's own agents go `offline`
// after 3 missed intervals (at least 90 s); external agents, which the platform cannot restart, wait
// as `awaiting_agent` after REMOTE_LIVENESS_STALE_AFTER seconds (A1.3) and are never `offline`. A
// heartbeat brings either back (record_heartbeat, migration 011). They run every 15 s on their own
// schedule (needing no container engine) and again in each orphan sweep, whose dry run lists them.
import type { Config } from '../config';
import type { WorkspaceStore } from './workspace-store';

/** A1.3: the remote-stale sweep's period. */
export const LIVENESS_SWEEP_INTERVAL_SECONDS = 15;

export type LivenessAction = 'offline' | 'would_offline' | 'awaiting_agent' | 'would_await_agent';

export interface LivenessFinding {
  kind: 'heartbeat';
  id: string;
  workspaceId: string;
  reason: string;
  action: LivenessAction;
}

/** The platform's own agents: 3 missed heartbeat intervals, never less than 90 s. */
export function platformStaleAfterSeconds(config: Pick<Config, 'HEARTBEAT_INTERVAL_SECONDS'>): number {
  return Math.max(90, 3 * config.HEARTBEAT_INTERVAL_SECONDS);
}

export function createLivenessSweeper({ store, config }: { store: WorkspaceStore; config: Config }) {
  return {
    async sweep(opts: { dryRun: boolean }): Promise<LivenessFinding[]> {
      const { dryRun } = opts;
      const remoteAfter = config.REMOTE_LIVENESS_STALE_AFTER;
      const platformAfter = platformStaleAfterSeconds(config);
      const external = await store.markSilentExternalAwaiting(remoteAfter, { dryRun });
      const platform = await store.markSilentPlatformOffline(platformAfter, { dryRun });
      return [
        ...external.map((w): LivenessFinding => ({
          kind: 'heartbeat', id: w.id, workspaceId: w.id,
          reason: `external agent silent for ${remoteAfter}s (was ${w.previousStatus})`,
          action: dryRun ? 'would_await_agent' : 'awaiting_agent',
        })),
        ...platform.map((w): LivenessFinding => ({
          kind: 'heartbeat', id: w.id, workspaceId: w.id,
          reason: `no heartbeat for ${platformAfter}s (was ${w.previousStatus})`,
          action: dryRun ? 'would_offline' : 'offline',
        })),
      ];
    },
  };
}
