// Fetches `!external` template subtrees with git into a content-addressed cache (SPEC §5):
// - one directory per content address (repo + ref + path); a hit needs the `.complete` marker, which
//   is written only after a successful clone and rename; a partial directory is removed and fetched again;
// - clone URLs never carry credentials: a token goes in a per-command `http.extraHeader`, and every
//   error message is redacted (by the parser) before it surfaces;
// - mirrors are git's own `url.<base>.insteadOf` rewrites (TEMPLATE_GIT_REWRITE), which is also how the
//   tests point an allowlisted https URL at a local repository.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { promisify } from 'node:util';
import { contentAddress, diskFileSource, type ExternalRef, type ExternalResolver } from '../domain/org-template';

const run = promisify(execFile);
const COMPLETE_MARKER = '.complete';

export interface GitResolverOptions {
  cacheDir: string;
  /** Sent as `Authorization: Bearer <token>` through http.extraHeader, never in the URL. */
  token?: string;
  /** `base=prefix` pairs: URLs starting with `prefix` are fetched from `base` instead. */
  rewrites?: Array<{ base: string; prefix: string }>;
  timeoutMs?: number;
}

/** `base=prefix,base=prefix` → rewrites. */
export function parseRewrites(value: string): Array<{ base: string; prefix: string }> {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((pair) => {
      const eq = pair.indexOf('=');
      if (eq <= 0) throw new Error('invalid configuration: TEMPLATE_GIT_REWRITE expects base=prefix pairs');
      return { base: pair.slice(0, eq), prefix: pair.slice(eq + 1) };
    });
}

/** The file to parse inside the checkout: the path itself if it names a YAML file, else its org.yaml. */
export function externalEntry(ref: ExternalRef): string {
  return /\.ya?ml$/i.test(ref.path) ? ref.path : posix.join(ref.path || '.', 'org.yaml');
}

export function createGitExternalResolver(opts: GitResolverOptions): ExternalResolver {
  return async (ref) => {
    const dir = join(opts.cacheDir, contentAddress(ref));
    const checkout = join(dir, 'repo');
    if (!existsSync(join(dir, COMPLETE_MARKER))) {
      rmSync(dir, { recursive: true, force: true }); // a partial entry from an interrupted fetch
      mkdirSync(opts.cacheDir, { recursive: true });
      const tmp = `${dir}.tmp-${randomBytes(4).toString('hex')}`;
      try {
        // Config goes through GIT_CONFIG_* variables, not `-c` arguments: argv is visible to every
        // local user in `ps`, and the token must not be.
        const config: Array<[string, string]> = [
          ...(opts.token ? [['http.extraHeader', `Authorization: Bearer ${opts.token}`] as [string, string]] : []),
          ...(opts.rewrites ?? []).map((r): [string, string] => [`url.${r.base}.insteadOf`, r.prefix]),
          ['protocol.ext.allow', 'never'],
        ];
        const configEnv = Object.fromEntries([
          ['GIT_CONFIG_COUNT', String(config.length)],
          ...config.flatMap(([key, value], i) => [[`GIT_CONFIG_KEY_${i}`, key], [`GIT_CONFIG_VALUE_${i}`, value]]),
        ]);
        // `--` ends options: neither the ref (validated, never starting with `-`) nor the URL can be one.
        await run('git', ['clone', '--quiet', '--depth', '1', '--branch', ref.ref, '--', ref.repo, join(tmp, 'repo')], {
          timeout: opts.timeoutMs ?? 120_000,
          env: { ...process.env, ...configEnv, GIT_TERMINAL_PROMPT: '0', GIT_ASKPASS: '/bin/false' },
        });
        try {
          renameSync(tmp, dir);
        } catch (err) {
          // A concurrent fetch of the same address finished first: use its entry.
          if (!existsSync(join(dir, COMPLETE_MARKER))) throw err;
        }
        writeFileSync(join(dir, COMPLETE_MARKER), new Date().toISOString());
      } finally {
        rmSync(tmp, { recursive: true, force: true });
      }
    }
    return { source: diskFileSource(checkout), entry: externalEntry(ref) };
  };
}
