// `${VAR}` expansion for workspace_dir. An unset variable is an error, not an empty string: an empty
// expansion turns `${ROOT}/agents` into `/agents`, a different (and possibly sensitive) host path.

/** The one message for a variable that is unset or not exposed to templates. */
export const UNAVAILABLE_VARIABLE = 'workspace_dir refers to a variable that is not available to templates';

export type ExpandResult = { ok: true; value: string } | { ok: false; reason: 'unset' | 'syntax' };

const VAR_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

/** Only `${NAME}` is expanded; a bare `$NAME` or `$` is literal. Substituted values are not re-expanded. */
export function expandVariables(text: string, env: Readonly<Record<string, string>>): ExpandResult {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const start = text.indexOf('${', i);
    if (start < 0) break;
    const end = text.indexOf('}', start + 2);
    if (end < 0) return { ok: false, reason: 'syntax' };
    const name = text.slice(start + 2, end);
    if (!VAR_NAME.test(name)) return { ok: false, reason: 'syntax' };
    if (!Object.hasOwn(env, name) || typeof env[name] !== 'string') return { ok: false, reason: 'unset' };
    out += text.slice(i, start) + env[name];
    i = end + 1;
  }
  return { ok: true, value: out + text.slice(i) };
}
