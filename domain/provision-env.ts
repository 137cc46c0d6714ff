// Environment assembly for a workspace's agent (SPEC §2 step 2). Pure: the caller passes decrypted
// secrets in, and only names (never values) come out of the preflight.
import { providerForModel } from './agent-config';

export interface EnvAssemblyInput {
  workspace: { id: string; name: string; parentId: string | null; model: string | null };
  globalSecrets: Record<string, string>;
  workspaceSecrets: Record<string, string>;
  /** Model from the provision request payload; wins over every other source. */
  requestModel?: string | null;
  /** Names that must be present and non-empty after assembly. */
  requiredEnv?: string[];
  /** Applied in order after secrets, before identity defaults (the reference's "env mutators"). */
  mutators?: Array<(env: Record<string, string>) => void>;
  /** Platform wiring the agent needs (PLATFORM_URL, WORKSPACE_ID, ...); secrets cannot override these. */
  platform?: Record<string, string>;
}

export interface AssembledEnv {
  env: Record<string, string>;
  missing: string[];
}

/** `Research Lead (EU)` → `research-lead-eu`; empty names become `workspace`. */
export function nameSlug(name: string): string {
  const slug = name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63)
    .replace(/-+$/g, '');
  return slug || 'workspace';
}

function setIfEmpty(env: Record<string, string>, key: string, value: string): void {
  if (!env[key]) env[key] = value;
}

export function assembleEnv(input: EnvAssemblyInput): AssembledEnv {
  // Layering: global secrets < workspace secrets.
  const env: Record<string, string> = { ...input.globalSecrets, ...input.workspaceSecrets };
  for (const mutate of input.mutators ?? []) mutate(env);

  const identity = `Molecule AI <${input.workspace.name}>`;
  const email = `${nameSlug(input.workspace.name)}@agents.moleculesai.app`;
  setIfEmpty(env, 'GIT_AUTHOR_NAME', identity);
  setIfEmpty(env, 'GIT_COMMITTER_NAME', identity);
  setIfEmpty(env, 'GIT_AUTHOR_EMAIL', email);
  setIfEmpty(env, 'GIT_COMMITTER_EMAIL', email);

  if (input.workspace.parentId) env.PARENT_ID = input.workspace.parentId;
  else delete env.PARENT_ID;

  // MODEL precedence: request payload > MODEL secret > MODEL_PROVIDER (> the workspace's stored model).
  const model = input.requestModel || env.MODEL || env.MODEL_PROVIDER || input.workspace.model || '';
  if (model) {
    env.MODEL = model;
    // A stored LLM_PROVIDER (set at create or through PUT /provider) is passed as is and never
    // re-derived (A4.3); only a workspace without one gets the provider its model implies.
    const provider = providerForModel(model);
    if (provider) setIfEmpty(env, 'LLM_PROVIDER', provider);
  }
  setIfEmpty(env, 'PYTHONPATH', '/app');
  Object.assign(env, input.platform ?? {});

  const missing = [...new Set(input.requiredEnv ?? [])].filter((name) => !env[name]).sort();
  return { env, missing };
}
