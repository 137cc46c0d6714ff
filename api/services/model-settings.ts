// Where a workspace's model and provider live (SPEC-ADDENDUM A4): workspace secrets, so the provision
// path reads them like every other env value and a restart never re-derives them.
import type { WorkspaceStore } from '../../activities/workspace-store';
import { providerForModel } from '../../domain/agent-config';

export const MODEL_SECRET = 'MODEL_PROVIDER';
export const PROVIDER_SECRET = 'LLM_PROVIDER';

/**
 * A4.1: a model given at create (or to provision) is stored verbatim, with the provider its prefix
 * implies unless the workspace already has one (an explicit provider, e.g. in `secrets`, wins).
 */
export async function persistModel(store: Pick<WorkspaceStore, 'putWorkspaceSecret' | 'getWorkspaceSecret'>, workspaceId: string, model: string): Promise<void> {
  const trimmed = model.trim();
  if (!trimmed) return;
  await store.putWorkspaceSecret(workspaceId, MODEL_SECRET, trimmed);
  const provider = providerForModel(trimmed);
  if (provider && !(await store.getWorkspaceSecret(workspaceId, PROVIDER_SECRET))) await store.putWorkspaceSecret(workspaceId, PROVIDER_SECRET, provider);
}
