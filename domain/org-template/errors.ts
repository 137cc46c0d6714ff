// Every failure of the org-template parser is a TemplateError with a stable code. Messages are fixed
// sentences written here, never built from template content: a template is attacker-controlled input
// and its values (or weird/long strings) must not reach logs or API answers through an error.

export const TEMPLATE_ERROR_CODES = [
  'invalid_input',
  'file_not_found',
  'file_too_large',
  'template_too_large',
  'yaml_invalid',
  'yaml_alias_limit',
  'invalid_include_path',
  'include_escape',
  'include_cycle',
  'include_depth',
  'include_without_base',
  'external_unsupported',
  'external_invalid',
  'external_host_not_allowed',
  'external_depth',
  'external_failed',
  'nesting_too_deep',
  'tree_too_deep',
  'too_many_workspaces',
  'missing_field',
  'invalid_type',
  'invalid_value',
  'duplicate_name',
  'unset_variable',
] as const;
export type TemplateErrorCode = (typeof TEMPLATE_ERROR_CODES)[number];

/** `file` for templates that came from an API body rather than a file tree. */
export const INLINE_FILE = '<inline>';

export class TemplateError extends Error {
  /**
   * @param file   template-root-relative POSIX path of the file the problem is in (validated, normalised)
   * @param path   location inside the resolved tree, e.g. `workspaces[0].children[2].required_env[1]`
   * @param internalDetail redacted diagnostic for server logs only (e.g. why a git fetch failed); never
   *               part of `message` and never to be returned to API callers
   */
  constructor(
    readonly code: TemplateErrorCode,
    message: string,
    readonly file: string,
    readonly path: string,
    readonly internalDetail?: string,
  ) {
    super(path ? `${path}: ${message}` : message);
    this.name = 'TemplateError';
  }
}

export interface TemplateWarning {
  file: string;
  path: string;
  message: string;
}

export type PathSegment = string | number;

// Only keys the schema defines are printed; any other key (user-chosen record keys, unknown keys) is
// shown as `*` so a path can never smuggle template content into a message. A unit test checks that
// every key of every schema object is listed here.
export const PRINTABLE_KEYS: ReadonlySet<string> = new Set([
  'name', 'description', 'defaults', 'workspaces', 'children', 'role', 'tier', 'runtime', 'model',
  'files_dir', 'workspace_dir', 'plugins', 'system_prompt', 'required_env', 'recommended_env', 'any_of', 'spawning',
  'max_concurrent_tasks', 'canvas', 'x', 'y', 'schedules', 'cron', 'prompt', 'enabled', 'prompts', 'env',
  'compute', 'runtime_config', 'provision_timeout_seconds', 'repo', 'ref', 'path', 'org_key',
]);

export function formatPath(segments: readonly PathSegment[]): string {
  let out = '';
  for (const seg of segments) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += (out ? '.' : '') + (PRINTABLE_KEYS.has(seg) ? seg : '*');
  }
  return out;
}
