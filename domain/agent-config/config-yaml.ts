// The generated /configs/config.yaml (SPEC-ADDENDUM A6.3): the workspace's name, its prompt files and
// its skills. Every value is a YAML double-quoted scalar with everything that could end or bend it
// escaped, so a name or file name chosen by a template author can never inject YAML keys.

export interface AgentConfig {
  name: string;
  /** Root-level `*.md` files of /configs, e.g. `system-prompt.md`. */
  promptFiles: string[];
  /** Skill names (directories `skills/<name>/` holding a SKILL.md). */
  skills: string[];
  /** A6.2: an idle prompt, sent after this many seconds without work. */
  idle?: { intervalSeconds: number; prompt: string };
}

const NAMED_ESCAPES: Record<string, string> = {
  '\\': '\\\\',
  '"': '\\"',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
  '\u0085': '\\N',
  '\u2028': '\\L',
  '\u2029': '\\P',
};

/** A YAML double-quoted scalar: `\`, `"`, LF, CR, TAB and YAML's other line breaks and controls escaped. */
export function yamlQuote(value: string): string {
  let out = '"';
  for (const ch of value) {
    const named = NAMED_ESCAPES[ch];
    if (named) out += named;
    else if (/[\u0000-\u001f\u007f-\u009f\ufeff]/.test(ch)) out += `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

export function renderConfigYaml(config: AgentConfig): string {
  const list = (key: string, values: string[]) =>
    values.length === 0 ? [`${key}: []`] : [`${key}:`, ...[...values].sort().map((v) => `  - ${yamlQuote(v)}`)];
  const lines = [`name: ${yamlQuote(config.name)}`, ...list('prompt_files', config.promptFiles), ...list('skills', config.skills)];
  if (config.idle) lines.push(`idle_interval_seconds: ${Math.max(1, Math.floor(config.idle.intervalSeconds))}`, `idle_prompt: ${yamlQuote(config.idle.prompt)}`);
  return `${lines.join('\n')}\n`;
}
