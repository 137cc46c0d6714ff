// The `!external` git resolver against real git: a smart-HTTP server (git http-backend) that records
// where each request and its Authorization header went, and local repositories. Covers the token's
// scope, redirects, the commit-keyed cache, concurrent fetches from separate resolvers (as separate
// processes would), the clone bound and LRU eviction under the cache bound.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { entryName } from '../../activities/template-cache';
import { createGitExternalResolver, type GitResolverOptions } from '../../activities/template-git';
import type { ExternalRef } from '../../domain/org-template';
import { startGitHttpServer, type GitHttpServer } from './support/git-http-server';

const TOKEN = 'ghp_scopedtoken0123456789abcdef';
const KiB = 1024;

let base: string;
let work: string;
let server: GitHttpServer;
let elsewhere: GitHttpServer;

function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.test', ...args], { cwd, stdio: 'pipe' }).toString().trim();
}

function write(root: string, files: Record<string, string | Buffer>) {
  for (const [rel, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, rel)), { recursive: true });
    writeFileSync(join(root, rel), content);
  }
}

/** Commits `files` in the work repository and publishes it to the served bare copy; returns the commit. */
function commit(files: Record<string, string | Buffer>): string {
  write(work, files);
  git(work, 'add', '.');
  git(work, 'commit', '-q', '-m', 'c');
  git(work, 'push', '-q', '--force', join(base, 'srv', 'acme', 'agents'), 'main');
  return git(work, 'rev-parse', 'HEAD');
}

const ref = (r: string, repo = 'https://git.example.test/acme/agents'): ExternalRef => ({ repo, ref: r, path: 'team.yaml' });

function resolver(cacheDir: string, extra: Partial<GitResolverOptions> = {}) {
  return createGitExternalResolver({ cacheDir, token: TOKEN, rewrites: [{ base: `${server.url}/`, prefix: 'https://git.example.test/' }], ...extra });
}

const entries = (dir: string) => (existsSync(dir) ? readdirSync(dir).sort() : []);

beforeAll(async () => {
  base = mkdtempSync(join(tmpdir(), 'template-git-'));
  work = join(base, 'work');
  mkdirSync(work);
  git(work, 'init', '-q', '-b', 'main');
  git(base, 'init', '-q', '--bare', '-b', 'main', join(base, 'srv', 'acme', 'agents'));
  commit({ 'team.yaml': 'name: Team\n' });
  elsewhere = await startGitHttpServer(join(base, 'srv'));
  server = await startGitHttpServer(join(base, 'srv'), { '/acme/moved': elsewhere.url });
});
afterAll(async () => {
  await server?.close();
  await elsewhere?.close();
  rmSync(base, { recursive: true, force: true });
});

describe('TEMPLATE_GIT_TOKEN scope', () => {
  it('goes to the repository being fetched, on every request of the fetch', async () => {
    server.requests.length = 0;
    const resolved = await resolver(join(base, 'cache-token'))(ref('main'));
    expect(await resolved.source.read('team.yaml')).toContain('name: Team');
    expect(server.requests.length).toBeGreaterThan(0);
    for (const r of server.requests) expect(r).toEqual({ path: expect.stringMatching(/^\/acme\/agents\//), authorization: `Bearer ${TOKEN}` });
  });

  it('never follows a redirect, so the token cannot be carried to another server', async () => {
    elsewhere.requests.length = 0;
    await expect(resolver(join(base, 'cache-redirect'))(ref('main', 'https://git.example.test/acme/moved'))).rejects.toThrow();
    expect(elsewhere.requests).toEqual([]);
    expect(entries(join(base, 'cache-redirect')).filter((e) => !e.startsWith('trash-'))).toEqual([]);
  });
});

describe('commit-keyed cache', () => {
  it('a pinned commit is fetched once; a branch is asked for its commit on every call and fetched only when it moved', async () => {
    const cacheDir = join(base, 'cache-keys');
    const resolve = resolver(cacheDir);
    const pinned = git(work, 'rev-parse', 'HEAD');
    await resolve(ref(pinned));
    server.requests.length = 0;
    await resolve(ref(pinned));
    expect(server.requests).toEqual([]); // no ls-remote, no fetch

    await resolve(ref('main')); // main is at `pinned`: the same entry, found after one ls-remote
    const lsRemoteOnly = server.requests.length;
    expect(lsRemoteOnly).toBeGreaterThan(0);
    expect(entries(cacheDir)).toEqual([entryName('https://git.example.test/acme/agents', pinned)]);

    const moved = commit({ 'team.yaml': 'name: Team Moved\n' });
    server.requests.length = 0;
    const after = await resolve(ref('main'));
    expect(await after.source.read('team.yaml')).toContain('Team Moved');
    expect(server.requests.length).toBeGreaterThan(lsRemoteOnly); // resolved, then fetched
    expect(entries(cacheDir)).toEqual([entryName('https://git.example.test/acme/agents', pinned), entryName('https://git.example.test/acme/agents', moved)].sort());
  });

  it('concurrent fetches of one entry from separate resolvers (as separate processes) all succeed and leave one entry', async () => {
    const cacheDir = join(base, 'cache-race');
    const pinned = commit({ 'team.yaml': 'name: Team Race\n', 'pad.bin': randomBytes(64 * KiB) });
    const resolvers = Array.from({ length: 4 }, () => resolver(cacheDir));
    const results = await Promise.all(resolvers.flatMap((r) => [r(ref(pinned)), r(ref(pinned))]));
    for (const res of results) expect(await res.source.read('team.yaml')).toBe('name: Team Race\n');
    expect(entries(cacheDir)).toEqual([entryName('https://git.example.test/acme/agents', pinned)]);
  });
});

describe('bounds', () => {
  it('a fetch larger than the clone bound fails and leaves nothing behind', async () => {
    const cacheDir = join(base, 'cache-clone-bound');
    const big = commit({ 'team.yaml': 'name: Big\n', 'big.bin': randomBytes(3 * 1024 * KiB) });
    await expect(resolver(cacheDir, { maxCloneBytes: 1024 * KiB })(ref(big))).rejects.toThrow(/clone bound/);
    expect(entries(cacheDir)).toEqual([]);
    // The same commit within a larger bound is fine.
    await expect(resolver(cacheDir, { maxCloneBytes: 16 * 1024 * KiB })(ref(big))).resolves.toBeDefined();
  });

  it('beyond the cache bound the least recently used entries are evicted; recently used ones are kept', async () => {
    const cacheDir = join(base, 'cache-lru');
    const c1 = commit({ 'team.yaml': 'name: One\n', 'big.bin': randomBytes(400 * KiB) });
    const c2 = commit({ 'team.yaml': 'name: Two\n', 'big.bin': randomBytes(400 * KiB) });
    const c3 = commit({ 'team.yaml': 'name: Three\n', 'big.bin': randomBytes(400 * KiB) });
    const name = (c: string) => entryName('https://git.example.test/acme/agents', c);
    const resolve = resolver(cacheDir, { maxCacheBytes: 1024 * KiB, evictionGraceMs: 0 });
    await resolve(ref(c1));
    await resolve(ref(c2));
    await new Promise((r) => setTimeout(r, 20)); // distinct mtimes for the LRU order
    await resolve(ref(c1)); // a hit: c1 is now more recent than c2
    await resolve(ref(c3));
    expect(entries(cacheDir)).toEqual([name(c1), name(c3)].sort());
    // Within the grace period nothing is evicted, even over the bound (an import may be reading it).
    const graceDir = join(base, 'cache-grace');
    const patient = resolver(graceDir, { maxCacheBytes: 1024 * KiB });
    for (const c of [c1, c2, c3]) await patient(ref(c));
    expect(entries(graceDir)).toHaveLength(3);
  });
});
