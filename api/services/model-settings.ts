// Where a workspace's model and provider live (SPEC-ADDENDUM A4): workspace secrets, so the provision
// path reads them like every other env value and a restart never re-derives them.
import type { WorkspaceStore } from '../../activities/workspace-store';
import { providerForModel } from '../../domain/agent-config';

export const MODEL_SECRET = 'MODEL_PROVIDER';
export const PROVIDER_SECRET = 'LLM_PROVIDER';

/**
 * A4.1: the secrets a model given at create (or to provision) is stored as: the model verbatim, and the
 * provider its prefix implies unless the workspace already has one (an explicit provider wins).
 */
export function modelSecrets(model: string | null | undefined, hasProvider: boolean): Record<string, string> {
  const trimmed = (model ?? '').trim();
  if (!trimmed) return {};
  const provider = providerForModel(trimmed);
  return { [MODEL_SECRET]: trimmed, ...(provider && !hasProvider ? { [PROVIDER_SECRET]: provider } : {}) };
}

/** Stores a model given to provision, as modelSecrets() says. */
export async function persistModel(store: Pick<WorkspaceStore, 'putWorkspaceSecret' | 'getWorkspaceSecret'>, workspaceId: string, model: string): Promise<void> {
  const hasProvider = (await store.getWorkspaceSecret(workspaceId, PROVIDER_SECRET)) !== null;
  for (const [name, value] of Object.entries(modelSecrets(model, hasProvider))) await store.putWorkspaceSecret(workspaceId, name, value);
}
