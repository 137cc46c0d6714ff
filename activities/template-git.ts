// Fetches `!external` template subtrees with git into the cache (activities/template-cache.ts):
// - the ref is resolved to a commit first: a 40-hex commit is used as is (fetched once, then served
//   from the cache), a branch or tag is re-resolved with `git ls-remote` on every import, so a moved
//   branch is fetched again and an unchanged one is a cache hit;
// - the commit itself is fetched (depth 1) and checked out; the entry keeps the files, not `.git`;
// - a fetch is aborted once its directory passes the clone bound, and the cache evicts least recently
//   used entries beyond its own bound;
// - git runs with an empty environment of ours (no SECRETS_KEY or ADMIN_TOKEN for hooks or helpers to
//   see), no user or system config, only the one protocol the URL needs, and no redirects;
// - the token goes in `http.<repository URL>.extraHeader`, scoped to the repository being fetched,
//   through GIT_CONFIG_* (argv is visible in `ps`), never in the URL;
// - mirrors (TEMPLATE_GIT_REWRITE, git's insteadOf semantics) are applied here, so the scope above is
//   the URL git really contacts; the tests point an allowlisted https URL at a local repository this way.
import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join, posix } from 'node:path';
import { promisify } from 'node:util';
import { diskFileSource, type ExternalRef, type ExternalResolver } from '../domain/org-template';
import { createTemplateCache, entryName, treeBytes } from './template-cache';

const run = promisify(execFile);
const COMMIT = /^[0-9a-f]{40}$/;
const MiB = 1024 * 1024;
const SIZE_POLL_MS = 200;

export interface GitResolverOptions {
  cacheDir: string;
  /** Sent as `Authorization: Bearer <token>` to the repository being fetched only. */
  token?: string;
  /** `base=prefix` pairs: URLs starting with `prefix` are fetched from `base` instead. */
  rewrites?: Array<{ base: string; prefix: string }>;
  timeoutMs?: number;
  /** Bound of one fetch (git data plus checkout); default 50 MiB. */
  maxCloneBytes?: number;
  /** Bound of the whole cache; default 500 MiB. */
  maxCacheBytes?: number;
  /** Entries used this recently are never evicted (an import may be reading them); default 10 min. */
  evictionGraceMs?: number;
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

/** git's `url.<base>.insteadOf=<prefix>`: the longest matching prefix wins. */
export function rewriteUrl(url: string, rewrites: ReadonlyArray<{ base: string; prefix: string }>): string {
  const match = rewrites.filter((r) => url.startsWith(r.prefix)).sort((a, b) => b.prefix.length - a.prefix.length)[0];
  return match ? match.base + url.slice(match.prefix.length) : url;
}

/** The file to parse inside the checkout: the path itself if it names a YAML file, else its org.yaml. */
export function externalEntry(ref: ExternalRef): string {
  return /\.ya?ml$/i.test(ref.path) ? ref.path : posix.join(ref.path || '.', 'org.yaml');
}

/** The commit `ref` names: a branch wins over a tag of the same name; an annotated tag is peeled. */
export function commitFromLsRemote(output: string, ref: string): string | null {
  const refs = new Map<string, string>();
  for (const line of output.split('\n')) {
    const [sha, name] = line.trim().split(/\s+/);
    if (sha && name && COMMIT.test(sha)) refs.set(name, sha);
  }
  return refs.get(`refs/heads/${ref}`) ?? refs.get(`refs/tags/${ref}^{}`) ?? refs.get(`refs/tags/${ref}`) ?? null;
}

export function createGitExternalResolver(opts: GitResolverOptions): ExternalResolver {
  const maxCloneBytes = opts.maxCloneBytes ?? 50 * MiB;
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const cache = createTemplateCache({ dir: opts.cacheDir, maxBytes: opts.maxCacheBytes ?? 500 * MiB, graceMs: opts.evictionGraceMs ?? 10 * 60_000 });
  // Concurrent imports of the same commit in this process share one fetch (other processes are kept
  // apart by the cache's temp-and-rename publishing).
  const inFlight = new Map<string, Promise<string>>();

  /** git with only what it needs: our config, one protocol, the token scoped to `url`. */
  function git(args: string[], url: string, extra: { cwd?: string; signal?: AbortSignal } = {}) {
    const scheme = new URL(url).protocol.replace(/:$/, '');
    const config: Array<[string, string]> = [
      ['protocol.allow', 'never'],
      [`protocol.${scheme}.allow`, 'always'],
      ['http.followRedirects', 'false'],
      ['advice.detachedHead', 'false'],
      ...(opts.token && (scheme === 'https' || scheme === 'http') ? [[`http.${url}.extraHeader`, `Authorization: Bearer ${opts.token}`] as [string, string]] : []),
    ];
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: opts.cacheDir,
      LANG: 'C',
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_CONFIG_GLOBAL: '/dev/null',
      GIT_TERMINAL_PROMPT: '0',
      GIT_ASKPASS: '/bin/false',
      GIT_CONFIG_COUNT: String(config.length),
      ...Object.fromEntries(config.flatMap(([key, value], i) => [[`GIT_CONFIG_KEY_${i}`, key], [`GIT_CONFIG_VALUE_${i}`, value]])),
    };
    return run('git', args, { cwd: extra.cwd, env, timeout: timeoutMs, signal: extra.signal, maxBuffer: 4 * MiB });
  }

  async function resolveCommit(url: string, ref: string): Promise<string> {
    if (COMMIT.test(ref)) return ref;
    // `--` ends options: neither the ref (validated, never starting with `-`) nor the URL can be one.
    const { stdout } = await git(['ls-remote', '--', url, `refs/heads/${ref}`, `refs/tags/${ref}`, `refs/tags/${ref}^{}`], url);
    const commit = commitFromLsRemote(stdout, ref);
    if (!commit) throw new Error('ref not found in the repository');
    return commit;
  }

  /** Fetches `commit` into a temporary directory, bounded in size, and publishes it. */
  async function fetchEntry(name: string, url: string, commit: string): Promise<string> {
    const temp = cache.tempFor(name);
    const checkout = join(temp, 'repo');
    const abort = new AbortController();
    let tooLarge = false;
    const watch = setInterval(() => {
      if (treeBytes(temp) > maxCloneBytes) {
        tooLarge = true;
        abort.abort();
      }
    }, SIZE_POLL_MS);
    try {
      await run('git', ['init', '-q', checkout], { env: { PATH: process.env.PATH, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null', HOME: opts.cacheDir } });
      await git(['fetch', '-q', '--depth', '1', '--no-tags', '--', url, commit], url, { cwd: checkout, signal: abort.signal });
      await git(['checkout', '-q', '--detach', commit], url, { cwd: checkout, signal: abort.signal });
      // The entry keeps files only: history is not needed and would count against the bounds.
      rmSync(join(checkout, '.git'), { recursive: true, force: true });
      const bytes = treeBytes(temp);
      if (bytes > maxCloneBytes) {
        tooLarge = true;
        throw new Error('checkout too large');
      }
      return cache.publish(name, temp, bytes);
    } catch (err) {
      rmSync(temp, { recursive: true, force: true });
      if (tooLarge) throw new Error(`the repository is larger than the clone bound (${Math.round(maxCloneBytes / MiB)} MiB)`);
      throw err;
    } finally {
      clearInterval(watch);
    }
  }

  return async (ref) => {
    const url = rewriteUrl(ref.repo, opts.rewrites ?? []);
    const commit = await resolveCommit(url, ref.ref);
    const name = entryName(ref.repo, commit);
    let dir = cache.lookup(name);
    if (!dir) {
      let pending = inFlight.get(name);
      if (!pending) {
        pending = fetchEntry(name, url, commit).finally(() => inFlight.delete(name));
        inFlight.set(name, pending);
      }
      dir = await pending;
      cache.evict(name);
    }
    return { source: diskFileSource(join(dir, 'repo')), entry: externalEntry(ref), root: join(dir, 'repo') };
  };
}
