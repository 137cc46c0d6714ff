// `!external` subtrees fetched with real git from local repositories (never the network): an
// allowlisted https URL is rewritten to a file:// repository with git's insteadOf, exactly as a mirror
// would be configured. Covers fetch, the commit-keyed cache (a branch re-resolved on every import, a
// pinned commit fetched once), partial cache entries, token redaction and rejections.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { startPlatform, waitFor, type Platform } from './support/platform';

let p: Platform;
let base: string;
let repo: string;
/** The commit tag v1 (and main, at first) points at. */
let firstCommit: string;
const TOKEN = 'ghp_supersecrettoken123';

function write(root: string, files: Record<string, string>) {
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, rel)), { recursive: true });
    writeFileSync(join(root, rel), text);
  }
}

function git(cwd: string, ...args: string[]) {
  execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.test', ...args], { cwd, stdio: 'pipe' });
}

beforeAll(async () => {
  base = mkdtempSync(join(tmpdir(), 'org-external-'));
  repo = join(base, 'repos', 'acme', 'agents.git');
  mkdirSync(repo, { recursive: true });
  git(repo, 'init', '-q', '-b', 'main');
  write(repo, {
    'teams/research.yaml': 'name: Ext Research Lead\nruntime: external\nfiles_dir: prompts/research\nchildren:\n  - !include members.yaml\n',
    'prompts/research/system-prompt.md': 'You research, from the external subtree.',
    'prompts/research/.env': 'EXT_DIR_KEY=from-external-env\n',
    'teams/members.yaml': 'name: Ext Researcher\nruntime: external\n',
  });
  git(repo, 'add', '.');
  git(repo, 'commit', '-q', '-m', 'team');
  git(repo, 'tag', 'v1');
  firstCommit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: repo }).toString().trim();
  const extOrg = (ref: string) =>
    `name: External Org\nworkspaces:\n  - name: Ext Root\n    runtime: external\n    children:\n      - !external { repo: "https://git.example.test/acme/agents.git", ref: ${ref}, path: teams/research.yaml }\n`;
  write(join(base, 'templates'), {
    'ext/org.yaml': [
      'name: External Org',
      'workspaces:',
      '  - name: Ext Root',
      '    runtime: external',
      '    children:',
      '      - !external { repo: "https://git.example.test/acme/agents.git", ref: v1, path: teams/research.yaml }',
      '',
    ].join('\n'),
    'badref/org.yaml': 'name: B\nworkspaces:\n  - !external { repo: "https://git.example.test/acme/agents.git", ref: "../x", path: a.yaml }\n',
    'badhost/org.yaml': 'name: B\nworkspaces:\n  - !external { repo: "https://evil.example.com/acme/agents.git", ref: v1, path: a.yaml }\n',
    'badowner/org.yaml': 'name: B\nworkspaces:\n  - !external { repo: "https://git.example.test/evil/agents.git", ref: v1, path: a.yaml }\n',
    'branch/org.yaml': extOrg('main'),
    'pinned/org.yaml': extOrg(firstCommit),
    'missing/org.yaml': 'name: B\nworkspaces:\n  - !external { repo: "https://git.example.test/acme/agents.git", ref: no-such-tag, path: a.yaml }\n',
  });
  p = await startPlatform({
    env: {
      TEMPLATES_ROOT: join(base, 'templates'),
      TEMPLATE_CACHE_DIR: join(base, 'cache'),
      TEMPLATE_GIT_ALLOW: 'git.example.test/acme/',
      TEMPLATE_GIT_TOKEN: TOKEN,
      TEMPLATE_GIT_REWRITE: `file://${join(base, 'repos')}/=https://git.example.test/`,
    },
  });
});
afterAll(async () => {
  await p?.close();
  rmSync(base, { recursive: true, force: true });
});

async function importDir(dir: string) {
  const res = await p.api<{ import_id: string; code?: string; template_error?: string }>('POST', '/org/import', { dir });
  if (res.status !== 202) return { status: res.status, body: res.body };
  const view = await waitFor('import finished', async () => {
    const v = await p.api<{ id: string; status: string; created_count: number; skipped_count: number }>('GET', `/org/imports/${res.body.import_id}`);
    return v.body.status !== 'running' ? v.body : null;
  });
  return { status: 202, body: view };
}

describe('!external subtrees', () => {
  it('are fetched with git into the content-addressed cache; includes stay inside the subtree', async () => {
    const res = await importDir('ext');
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ status: 'completed', created_count: 3 });
    const { rows } = await p.clients.pool.query(
      `SELECT w.name, parent.name AS parent FROM workspaces w LEFT JOIN workspaces parent ON parent.id = w.parent_id
        WHERE w.org_import_id = $1 ORDER BY w.name`,
      [(res.body as { id: string }).id],
    );
    expect(rows).toEqual([
      { name: 'Ext Research Lead', parent: 'Ext Root' },
      { name: 'Ext Researcher', parent: 'Ext Research Lead' },
      { name: 'Ext Root', parent: null },
    ]);
    // A files_dir inside the subtree is copied from its checkout, with its .env as env (A6, A7).
    const { rows: lead } = await p.clients.pool.query<{ id: string }>(`SELECT id FROM workspaces WHERE org_import_id = $1 AND name = 'Ext Research Lead'`, [(res.body as { id: string }).id]);
    const files = await p.clients.store.workspaceFiles(lead[0].id);
    expect(files.map((f) => [f.path, f.content.toString('utf8')])).toEqual([['system-prompt.md', 'You research, from the external subtree.']]);
    expect((await p.clients.store.loadSecrets(lead[0].id)).workspace).toMatchObject({ EXT_DIR_KEY: 'from-external-env' });
    const entries = readdirSync(join(base, 'cache'));
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatch(/^[0-9a-f]{64}$/);
    expect(existsSync(join(base, 'cache', entries[0], '.complete'))).toBe(true);
  });

  it('a branch is re-resolved on every import: a new commit is fetched, an unchanged one is a cache hit', async () => {
    // main is at the commit v1 names: the same cache entry.
    expect((await importDir('branch')).body).toMatchObject({ status: 'completed' });
    expect(readdirSync(join(base, 'cache'))).toHaveLength(1);
    write(repo, { 'teams/members.yaml': 'name: Ext Researcher Two\nruntime: external\n' });
    git(repo, 'commit', '-q', '-am', 'rename');
    const res = await importDir('branch');
    expect(res.body).toMatchObject({ status: 'completed', created_count: 1 });
    const { rows } = await p.clients.pool.query('SELECT name FROM workspaces WHERE org_import_id = $1', [(res.body as { id: string }).id]);
    expect(rows).toEqual([{ name: 'Ext Researcher Two' }]);
    expect(readdirSync(join(base, 'cache')).sort()).toHaveLength(2);
  });

  it('a pinned commit is fetched once and then served without asking the remote; a partial entry is fetched again', async () => {
    const before = readdirSync(join(base, 'cache'));
    // Hit: the repository can be gone, the cache answers (no ls-remote for a commit id).
    rmSync(join(base, 'repos'), { recursive: true, force: true });
    const listed = await p.api<{ templates: Array<{ dir: string; workspaces: number; error?: string }> }>('GET', '/org/templates');
    expect(listed.body.templates.find((t) => t.dir === 'pinned')).toMatchObject({ workspaces: 3 });
    expect((await importDir('pinned')).body).toMatchObject({ status: 'completed' });
    // A branch or tag cannot be resolved without the remote, so it is not served from a stale entry.
    expect((await importDir('branch')).body).toMatchObject({ code: 'INVALID_TEMPLATE', template_error: 'external_failed' });
    expect(readdirSync(join(base, 'cache')).sort()).toEqual(before.sort());
    // Partial: no marker → moved aside and fetched again, which now fails (the repository is gone).
    for (const entry of before) rmSync(join(base, 'cache', entry, '.complete'));
    const res = await importDir('pinned');
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ code: 'INVALID_TEMPLATE', template_error: 'external_failed' });
    expect(readdirSync(join(base, 'cache')).filter((e) => /^[0-9a-f]{64}$/.test(e))).toHaveLength(before.length - 1);
  });

  it('rejects bad refs and hosts outside the allowlist; fetch errors never leak the token', async () => {
    expect((await importDir('badref')).body).toMatchObject({ template_error: 'external_invalid' });
    expect((await importDir('badhost')).body).toMatchObject({ template_error: 'external_host_not_allowed' });
    // The allowlist names an owner on the host, not the host: another owner there is refused.
    expect((await importDir('badowner')).body).toMatchObject({ template_error: 'external_host_not_allowed' });
    const missing = await importDir('missing');
    expect(missing.status).toBe(400);
    expect(missing.body).toMatchObject({ template_error: 'external_failed' });
    expect(JSON.stringify(missing.body)).not.toContain(TOKEN);
  });
});
