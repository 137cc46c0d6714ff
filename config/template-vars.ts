// Which environment variables `${VAR}` in an on-disk org template may read. Templates (and the
// `!external` subtrees they pull in) are not trusted with the process environment: only variables an
// operator exposed on purpose expand, and platform configuration or credentials never do.

/** Every variable named so is exposed to templates. */
export const TEMPLATE_VAR_PREFIX = 'TEMPLATE_VAR_';

// Names that hold platform configuration or credentials, or look like they do: never expandable, even
// when TEMPLATE_VARS lists them (loadConfig refuses such a list). Prefixes cover families that
// config/index.ts reads by pattern (WORKSPACE_IMAGE_<RUNTIME>, CONTAINER_*_<RUNTIME>) and the ones
// client libraries read on their own (AWS SDK, libpq, Temporal, Node).
const FORBIDDEN_PREFIXES = ['AWS_', 'PG', 'TEMPORAL_', 'DOCKER_', 'EC2_', 'TEMPLATE_GIT_', 'WORKSPACE_IMAGE', 'CONTAINER_', 'PUSH_URL_', 'NODE_', 'npm_'];
const CREDENTIAL_WORDS = /SECRET|TOKEN|PASSWORD|PASSWD|CREDENTIAL|PRIVATE|API_?KEY|(^|_)KEY($|_)|AUTH|COOKIE|SESSION/i;

/** True for a name TEMPLATE_VARS may list: not configuration, not a credential. */
export function isListableTemplateVar(name: string, configKeys: readonly string[]): boolean {
  if (configKeys.includes(name) || name === 'TEMPLATE_VARS') return false;
  if (FORBIDDEN_PREFIXES.some((p) => name.startsWith(p))) return false;
  return !CREDENTIAL_WORDS.test(name);
}

/**
 * The variables templates may expand: every `TEMPLATE_VAR_*` plus the names listed in TEMPLATE_VARS
 * (comma-separated) that pass `isListableTemplateVar`. A listed name that is not set is simply absent,
 * so it fails like any other unavailable variable.
 */
export function templateVariables(env: NodeJS.ProcessEnv, listed: readonly string[], configKeys: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (typeof value !== 'string') continue;
    if (name.startsWith(TEMPLATE_VAR_PREFIX) && name.length > TEMPLATE_VAR_PREFIX.length) out[name] = value;
    else if (listed.includes(name) && isListableTemplateVar(name, configKeys)) out[name] = value;
  }
  return out;
}

/** `A,B` → names; the caller decides what to do with unlistable ones. */
export function parseTemplateVarList(value: string): string[] {
  return value.split(',').map((s) => s.trim()).filter(Boolean);
}
