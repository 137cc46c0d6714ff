// `.env` files beside a template (SPEC-ADDENDUM A7.3): one `KEY=value` per line. Lenient on purpose: a
// line that does not parse is skipped, never fatal, because these files are hand-written and a typo in
// one line must not stop an org import. Keys must also be names the platform stores as secrets.
import { ENV_NAME_PATTERN } from '../org-template';

/** Persona directories are named by the files_dir slug; anything else is not a persona key. */
const PERSONA_KEY = /^[A-Za-z0-9_-]+$/;

export function parseDotenv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    const key = line.slice(0, eq).trim();
    let value = line.slice(eq + 1).trim();
    if (value.length >= 2 && (value[0] === '"' || value[0] === "'") && value[value.length - 1] === value[0]) value = value.slice(1, -1);
    if (!key || !value || !ENV_NAME_PATTERN.test(key)) continue;
    out[key] = value;
  }
  return out;
}

/** The persona key of a workspace: its files_dir when that is one safe slug (no path), else none. */
export function personaKey(filesDir: string | null | undefined): string | undefined {
  return filesDir && PERSONA_KEY.test(filesDir) ? filesDir : undefined;
}
