// `!external {repo, ref, path}`: this module only validates the reference and names its cache entry.
// Fetching is an injected resolver (an activity later), so the parser stays pure and testable.
import { createHash } from 'node:crypto';
import { type PathSegment, TemplateError, formatPath } from './errors';
import type { TemplateFileSource } from './file-source';
import { resolveTemplatePath } from './paths';
import { isPlainObject } from './plain-object';

export interface ExternalRef {
  /** https URL without userinfo, query or fragment, matching an allowlisted repository prefix. */
  repo: string;
  ref: string;
  /** Normalised, relative to the repository root ('' for the root). */
  path: string;
}

export interface ResolvedExternal {
  /** Files of the fetched subtree; includes inside it resolve within this source. */
  source: TemplateFileSource;
  /** The file to parse, relative to `source`'s root. */
  entry: string;
  /** The subtree's directory on this host, when it has one: a files_dir inside it is copied from there. */
  root?: string;
}

export type ExternalResolver = (ref: ExternalRef) => Promise<ResolvedExternal>;

/**
 * Repositories `!external` may name when the caller gives no allowlist: none. Fetching third-party
 * template content is opt-in, per repository or owner (TEMPLATE_GIT_ALLOW).
 */
export const DEFAULT_EXTERNAL_REPOS: readonly string[] = [];

// A path segment of an allowed repository: no empty, `.`/`..` or percent-encoded segments, which a
// server might normalise into a different repository than the one the allowlist matched.
const REPO_SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;

/**
 * `host/owner/` (every repository of the owner: the trailing slash makes it a prefix) or
 * `host/owner/repo` (that repository only); a trailing `*` is dropped, the host is case-insensitive,
 * `.git` and trailing slashes are ignored. Null when the pattern names no owner or is malformed.
 */
export function normaliseRepoPattern(pattern: string): string | null {
  const text = pattern.trim().replace(/\*$/, '');
  const slash = text.indexOf('/');
  if (slash <= 0) return null;
  const host = text.slice(0, slash).toLowerCase();
  if (!/^[a-z0-9.-]+(:[0-9]{1,5})?$/.test(host)) return null;
  const prefix = text.endsWith('/');
  const segments = text.slice(slash + 1).replace(/\/+$/, '').replace(/\.git$/, '').split('/');
  if (segments.length === 0 || !segments.every((s) => REPO_SEGMENT.test(s))) return null;
  return `${host}/${segments.join('/')}${prefix ? '/' : ''}`;
}

/** `host/owner/repo` of a normalised https repository URL against the allowlist patterns. */
export function repoAllowed(repo: string, patterns: readonly string[]): boolean {
  const url = new URL(repo);
  const key = `${url.host.toLowerCase()}${url.pathname}`;
  return patterns.some((raw) => {
    const p = normaliseRepoPattern(raw);
    return p !== null && (p.endsWith('/') ? key.startsWith(p) : key === p);
  });
}

// The SPEC's pattern; `..` is refused separately, and a leading `-` too so a ref can never be read as a
// git command-line option by whatever runs the clone.
const REF_PATTERN = /^[a-zA-Z0-9_./-]+$/;
const MAX_REPO_LENGTH = 2048;
const MAX_REF_LENGTH = 255;

export function parseExternalRef(
  spec: unknown,
  allowedRepos: readonly string[],
  at: { file: string; path: readonly PathSegment[] },
): ExternalRef {
  const fail = (code: 'external_invalid' | 'external_host_not_allowed', message: string): never => {
    throw new TemplateError(code, message, at.file, formatPath(at.path));
  };
  if (!isPlainObject(spec)) return fail('external_invalid', '!external must be a mapping of repo, ref and path');
  const { repo, ref, path } = spec;
  if (typeof repo !== 'string' || typeof ref !== 'string' || typeof path !== 'string') {
    return fail('external_invalid', '!external needs string repo, ref and path');
  }
  if (repo.length > MAX_REPO_LENGTH) return fail('external_invalid', '!external repo is too long');
  let url: URL;
  try {
    url = new URL(repo);
  } catch {
    return fail('external_invalid', '!external repo must be an https URL');
  }
  if (url.protocol !== 'https:') fail('external_invalid', '!external repo must be an https URL');
  if (url.username || url.password || repo.slice(0, repo.indexOf(url.host)).includes('@')) {
    fail('external_invalid', '!external repo must not carry credentials');
  }
  if (url.search || url.hash || repo.includes('?') || repo.includes('#')) fail('external_invalid', '!external repo must not have a query or fragment');
  const segments = url.pathname.replace(/\/+$/, '').replace(/\.git$/, '').split('/').slice(1);
  if (segments.length < 2 || !segments.every((s) => REPO_SEGMENT.test(s)) || repo.includes('%') || repo.includes('\\')) {
    fail('external_invalid', '!external repo must be https://host/owner/repository');
  }
  // The code predates repository prefixes (it meant "host not allowed"); kept so callers need not change.
  if (!repoAllowed(normaliseRepo(url), allowedRepos)) fail('external_host_not_allowed', '!external repo is not in the allowlist');
  if (ref.length > MAX_REF_LENGTH || !REF_PATTERN.test(ref) || ref.includes('..') || ref.startsWith('-')) {
    fail('external_invalid', '!external ref is not a valid git ref');
  }
  const normalisedPath = resolveTemplatePath(path === '' ? '.' : path, '', { file: at.file, path: [...at.path, 'path'], what: '!external' });
  return { repo: normaliseRepo(url), ref, path: normalisedPath };
}

function normaliseRepo(url: URL): string {
  const pathname = url.pathname.replace(/\/+$/, '').replace(/\.git$/, '');
  return `https://${url.host.toLowerCase()}${pathname}`;
}

/** Cache directory name for an external subtree: the same repo, ref and path always share one entry. */
export function contentAddress(ref: ExternalRef): string {
  let repo = ref.repo;
  try {
    repo = normaliseRepo(new URL(ref.repo));
  } catch {
    // Unparseable input still gets a stable address; parseExternalRef rejects it before any fetch.
  }
  const path = ref.path.split('/').filter((p) => p !== '' && p !== '.').join('/');
  return createHash('sha256').update(JSON.stringify([repo, ref.ref, path])).digest('hex');
}

/**
 * Strips credentials from a message before it is logged or surfaced: URL userinfo, token-like query
 * parameters, `Authorization` values, git `extraHeader` values and well-known token formats.
 */
export function redactSecrets(message: string): string {
  return message
    .replace(/(extra-?header\s*[=:]\s*)("[^"\n]*"?|'[^'\n]*'?|[^\n]*)/gi, '$1[REDACTED]')
    .replace(/(authorization\s*[:=]\s*(?:(?:bearer|basic|token|digest)\s+)?)[^\s"',;]+/gi, '$1[REDACTED]')
    .replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#@]+@/gi, '$1[REDACTED]@')
    .replace(/([?&](?:access_token|token|private_token|oauth_token|password|passwd|secret|key|sig|signature)=)[^&\s#]+/gi, '$1[REDACTED]')
    .replace(/\b(?:gh[pousr]_[A-Za-z0-9]{16,}|github_pat_[A-Za-z0-9_]{16,}|glpat-[A-Za-z0-9_-]{16,})\b/g, '[REDACTED]');
}
