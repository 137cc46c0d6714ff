// Where a new workspace runs and how work reaches it, from its runtime. Workspaces are created by
// POST /workspaces and by the org import; both take these rules from here so the two cannot disagree.
import { PARKED_STATUSES, type ComputeKind, type DeliveryMode, type Runtime, type WorkspaceStatus } from './vocabulary';

export type PlatformCompute = Exclude<ComputeKind, 'none'>;

/** An external agent runs outside the platform (no compute); others run where asked, else on the default. */
export function computeFor(runtime: Runtime, requested: PlatformCompute | null | undefined, defaultCompute: PlatformCompute): ComputeKind {
  if (runtime === 'external') return 'none';
  return requested ?? defaultCompute;
}

/** External agents poll and platform-run agents are pushed to, unless the caller chose. */
export function deliveryModeFor(runtime: Runtime, requested?: DeliveryMode | null): DeliveryMode {
  return requested ?? (runtime === 'external' ? 'poll' : 'push');
}

/**
 * A5.4, at register: the mode the agent asks for, else the one stored (create wrote `poll` for external
 * rows, `push` for the others, unless the caller chose), else `poll` for an external runtime, else `push`.
 */
export function resolveDeliveryMode(requested: DeliveryMode | null | undefined, stored: DeliveryMode | null | undefined, runtime: Runtime): DeliveryMode {
  return requested ?? stored ?? (runtime === 'external' ? 'poll' : 'push');
}

/**
 * A5.4's "url required only for push", for the agents whose address the platform cannot know: an
 * external agent in push mode needs a URL, given now or stored before. The platform reaches the agents
 * it runs itself at their container or instance, so they never need one.
 */
export function pushUrlMissing(mode: DeliveryMode, runtime: Runtime, url: string | null | undefined, storedUrl: string | null): boolean {
  return mode === 'push' && runtime === 'external' && !url && !storedUrl;
}

/** A new workspace waits for its external agent, or is about to be provisioned on platform compute. */
export function initialStatusFor(compute: ComputeKind): Extract<WorkspaceStatus, 'awaiting_agent' | 'provisioning'> {
  return compute === 'none' ? 'awaiting_agent' : 'provisioning';
}

/** The same, except that an external workspace created with the URL its agent already runs at is online (A5.1). */
export function createdStatusFor(compute: ComputeKind, url: string | null): Extract<WorkspaceStatus, 'awaiting_agent' | 'online' | 'provisioning'> {
  return compute === 'none' && url ? 'online' : initialStatusFor(compute);
}

/**
 * Statuses in which a configuration write (secret, model, provider, files) does not restart the agent:
 * it is gone, or an operator stopped it on purpose; the write takes effect when it next starts.
 */
export const NO_RESTART_ON_WRITE_STATUSES: readonly WorkspaceStatus[] = ['removed', ...PARKED_STATUSES];

/**
 * A3: a configuration write restarts the agent when the platform runs it and nobody stopped it. A
 * workspace still waiting for its first provision run (queued in an import, or just created) is left
 * alone: that run reads the newest secrets when it starts.
 */
export function restartsOnConfigWrite(ws: { compute: ComputeKind; status: WorkspaceStatus; provision_run_id: string | null }): boolean {
  if (ws.status === 'provisioning' && ws.provision_run_id === null) return false;
  return ws.compute !== 'none' && !NO_RESTART_ON_WRITE_STATUSES.includes(ws.status);
}
