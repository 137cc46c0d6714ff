// Org template import: parse an `org.yaml` tree (or an inline JSON body) into one validated OrgTemplate.
// Pure apart from the injected file source and external resolver: no Temporal, no network.
import { INLINE_FILE, TemplateError } from './errors';
import { DEFAULT_EXTERNAL_REPOS, type ExternalResolver } from './external';
import type { TemplateFileSource } from './file-source';
import { expandFromSource, expandInline } from './includes';
import type { OrgTemplate } from './schema';
import { validateTemplate } from './validate';

export interface ParseOrgTemplateInput {
  /** Exactly one of `source` and `inline`. */
  source?: TemplateFileSource;
  /** Entry file inside `source`; default `org.yaml`. */
  entry?: string;
  /** An already-parsed JSON object (API body). Includes are `{"!include": "path"}` and are rejected. */
  inline?: unknown;
  /**
   * For `${VAR}` in workspace_dir: exactly the variables templates may read (config.templateVars), never
   * the process environment. A name outside it fails like an unset one.
   */
  env?: Readonly<Record<string, string>>;
  /** Repository prefixes `!external` may name (`host/owner/` or `host/owner/repo`); default none. */
  allowedExternalRepos?: readonly string[];
  /** Fetches `!external` subtrees; without it `!external` fails with `external_unsupported`. */
  resolveExternal?: ExternalResolver;
}

export const DEFAULT_ENTRY = 'org.yaml';

export async function parseOrgTemplate(input: ParseOrgTemplateInput): Promise<OrgTemplate> {
  const hasSource = input.source !== undefined;
  const hasInline = input.inline !== undefined;
  if (hasSource === hasInline) throw new TemplateError('invalid_input', 'give exactly one of a template directory or an inline template', '', '');
  const options = { allowedRepos: input.allowedExternalRepos ?? DEFAULT_EXTERNAL_REPOS, resolveExternal: input.resolveExternal };
  const entry = input.entry ?? DEFAULT_ENTRY;
  const expanded = input.source ? await expandFromSource(input.source, entry, options) : await expandInline(input.inline, options);
  return validateTemplate(expanded.value, { origins: expanded.origins, env: input.env ?? {}, rootFile: input.source ? entry : INLINE_FILE });
}

export { INLINE_FILE, PRINTABLE_KEYS, TEMPLATE_ERROR_CODES, TemplateError, formatPath } from './errors';
export type { PathSegment, TemplateErrorCode, TemplateWarning } from './errors';
export { DEFAULT_EXTERNAL_REPOS, contentAddress, normaliseRepoPattern, parseExternalRef, redactSecrets, repoAllowed } from './external';
export type { ExternalRef, ExternalResolver, ResolvedExternal } from './external';
export { diskFileSource, memoryFileSource } from './file-source';
export type { TemplateFileSource } from './file-source';
export { INLINE_EXTERNAL_KEY, INLINE_INCLUDE_KEY } from './includes';
export { LIMITS } from './limits';
export { resolveTemplatePath } from './paths';
export { ENV_NAME_PATTERN, ORG_KEY_PATTERN, TEMPLATE_COMPUTE_KINDS, orgKeyOf } from './schema';
export type { EnvRequirement, OrgTemplate, Schedule, TemplateWorkspace, WorkspaceSettings } from './schema';
export { collectEnvRequirements, missingEnv, templateEnvLists } from './env-requirements';
export type { EnvRequirements } from './env-requirements';
export { absolutePositions, countWorkspaces, flattenTemplate } from './flatten';
export type { FlatWorkspace } from './flatten';
