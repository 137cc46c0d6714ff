// Where a new workspace runs and how work reaches it, from its runtime. Workspaces are created by
// POST /workspaces and by the org import; both take these rules from here so the two cannot disagree.
import type { ComputeKind, DeliveryMode, Runtime } from './vocabulary';

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
