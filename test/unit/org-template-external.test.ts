import {
  type ExternalRef,
  type ExternalResolver,
  contentAddress,
  flattenTemplate,
  memoryFileSource,
  normaliseRepoPattern,
  parseExternalRef,
  parseOrgTemplate,
  redactSecrets,
} from '../../domain/org-template';
import { templateError } from '../fixtures/org-templates/support';

const at = { file: 'org.yaml', path: ['workspaces', 0] };
const hosts = ['github.com/acme/'];
const valid = { repo: 'https://github.com/acme/agents', ref: 'v1.2.0', path: 'teams/research' };

describe('parseExternalRef', () => {
  it('accepts and normalises a valid reference', () => {
    expect(parseExternalRef({ repo: 'https://GitHub.com/acme/agents.git/', ref: 'release/2025-01_a', path: './teams//research/' }, hosts, at)).toEqual({
      repo: 'https://github.com/acme/agents',
      ref: 'release/2025-01_a',
      path: 'teams/research',
    });
    expect(parseExternalRef({ ...valid, path: '' }, hosts, at).path).toBe('');
  });

  it.each([
    ['http (not https)', { repo: 'http://github.com/acme/agents' }],
    ['ssh', { repo: 'git@github.com:acme/agents.git' }],
    ['file URL', { repo: 'file:///etc' }],
    ['userinfo token', { repo: 'https://x-access-token:ghp_secret@github.com/acme/agents' }],
    ['userinfo user only', { repo: 'https://user@github.com/acme/agents' }],
    ['empty userinfo', { repo: 'https://@github.com/acme/agents' }],
    ['query', { repo: 'https://github.com/acme/agents?token=abc' }],
    ['fragment', { repo: 'https://github.com/acme/agents#main' }],
    ['not a URL', { repo: 'github.com/acme/agents' }],
    ['ref with ..', { ref: 'main..evil' }],
    ['ref that is ..', { ref: '..' }],
    ['ref option injection', { ref: '--upload-pack=touch /tmp/pwned' }],
    ['ref leading dash', { ref: '-main' }],
    ['ref with space', { ref: 'main branch' }],
    ['ref with shell chars', { ref: 'main;rm -rf /' }],
    ['ref with newline', { ref: 'main\nx' }],
    ['empty ref', { ref: '' }],
    ['very long ref', { ref: 'a'.repeat(256) }],
    ['non-string repo', { repo: 42 }],
    ['missing path', { path: undefined }],
  ])('rejects %s', (_, patch) => {
    let caught: unknown;
    try {
      parseExternalRef({ ...valid, ...patch }, hosts, at);
    } catch (err) {
      caught = err;
    }
    expect(caught).toMatchObject({ name: 'TemplateError', code: 'external_invalid', file: 'org.yaml', path: 'workspaces[0]' });
    expect((caught as Error).message).not.toMatch(/secret|pwned|token=abc|rm -rf/);
  });

  it.each([['https://gitlab.com/acme/agents'], ['https://evilgithub.com/acme/agents'], ['https://github.com.evil.com/acme/agents'], ['https://github.com:8443/acme/agents'], ['https://github.com./acme/agents']])(
    'rejects a host outside the allowlist: %s',
    (repo) => {
      expect(() => parseExternalRef({ ...valid, repo }, hosts, at)).toThrow(expect.objectContaining({ code: 'external_host_not_allowed' }));
    },
  );

  it('uses a custom allowlist', () => {
    expect(parseExternalRef({ ...valid, repo: 'https://git.example.com/a/b' }, ['git.example.com/a/'], at).repo).toBe('https://git.example.com/a/b');
    expect(() => parseExternalRef(valid, ['git.example.com/a/'], at)).toThrow(expect.objectContaining({ code: 'external_host_not_allowed' }));
  });

  it('allowlists repository prefixes, not hosts: host/owner/ is a prefix, host/owner/repo exact', () => {
    const allow = (repo: string, patterns: string[]) => {
      try {
        return parseExternalRef({ ...valid, repo }, patterns, at).repo;
      } catch (err) {
        return (err as { code: string }).code;
      }
    };
    expect(allow('https://github.com/acme/agents', ['github.com/acme/'])).toBe('https://github.com/acme/agents');
    expect(allow('https://github.com/acme/agents.git', ['github.com/acme/agents'])).toBe('https://github.com/acme/agents');
    expect(allow('https://github.com/acme/agents', ['GitHub.com/acme/agents.git'])).toBe('https://github.com/acme/agents');
    expect(allow('https://github.com/acme/agents', ['github.com/acme/*'])).toBe('https://github.com/acme/agents');
    expect(allow('https://github.com/acme/sub/agents', ['github.com/acme/'])).toBe('https://github.com/acme/sub/agents');
    for (const [repo, patterns] of [
      ['https://github.com/evil/agents', ['github.com/acme/']],
      ['https://github.com/acme-evil/agents', ['github.com/acme/']],
      ['https://github.com/acme/agents-fork', ['github.com/acme/agents']],
      ['https://github.com/acme/agents/sub', ['github.com/acme/agents']],
      ['https://github.com/acme/agents', ['github.com']],
      ['https://github.com/acme/agents', ['github.com/']],
      ['https://github.com/acme/agents', ['github.com/acme']],
      ['https://github.com/ACME/agents', ['github.com/acme/']],
      ['https://github.com/acme/../evil/agents', ['github.com/acme/']],
      ['https://github.com/acme/agents', []],
    ] as Array<[string, string[]]>) {
      expect({ repo, patterns, verdict: allow(repo, patterns) }).toEqual({ repo, patterns, verdict: 'external_host_not_allowed' });
    }
    // Paths a server might read as another repository are malformed, whatever the allowlist says.
    for (const repo of ['https://github.com/acme//agents', 'https://github.com/acme/%2e%2e/evil', 'https://github.com/acme%2Fevil/x', 'https://github.com/acme', 'https://github.com/acme/.hidden']) {
      expect({ repo, verdict: allow(repo, ['github.com/']) }).toEqual({ repo, verdict: 'external_invalid' });
    }
  });

  it('normalises allowlist patterns and refuses ones that name no owner', () => {
    expect(normaliseRepoPattern(' GitHub.com/acme/ ')).toBe('github.com/acme/');
    expect(normaliseRepoPattern('git.example.com:8443/a/b.git')).toBe('git.example.com:8443/a/b');
    for (const bad of ['github.com', 'github.com/', '/acme/', 'github.com/acme//x', 'github.com/../x', 'https://github.com/acme/', 'github.com/acme x/']) {
      expect({ bad, p: normaliseRepoPattern(bad) }).toEqual({ bad, p: null });
    }
  });

  it('confines the path like an include', () => {
    for (const path of ['../x', '/abs', 'a/../../b']) {
      expect(() => parseExternalRef({ ...valid, path }, hosts, at)).toThrow(expect.objectContaining({ code: 'include_escape', path: 'workspaces[0].path' }));
    }
  });

  it('rejects a non-mapping', () => {
    expect(() => parseExternalRef('https://github.com/acme/agents', hosts, at)).toThrow(expect.objectContaining({ code: 'external_invalid' }));
    expect(() => parseExternalRef(null, hosts, at)).toThrow(expect.objectContaining({ code: 'external_invalid' }));
  });
});

describe('contentAddress', () => {
  const ref: ExternalRef = { repo: 'https://github.com/acme/agents', ref: 'main', path: 'teams' };

  it('is a sha256 hex digest, stable across equivalent spellings', () => {
    const a = contentAddress(ref);
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(contentAddress({ repo: 'https://GITHUB.com/acme/agents.git/', ref: 'main', path: './teams/' })).toBe(a);
  });

  it('differs when repo, ref or path differ, with no concatenation ambiguity', () => {
    const a = contentAddress(ref);
    expect(contentAddress({ ...ref, ref: 'dev' })).not.toBe(a);
    expect(contentAddress({ ...ref, path: 'teams/x' })).not.toBe(a);
    expect(contentAddress({ ...ref, repo: 'https://github.com/acme/other' })).not.toBe(a);
    expect(contentAddress({ repo: ref.repo, ref: 'a/b', path: 'c' })).not.toBe(contentAddress({ repo: ref.repo, ref: 'a', path: 'b/c' }));
  });
});

describe('redactSecrets', () => {
  it.each([
    ['fatal: unable to access https://x-access-token:ghp_abcdefghijklmnopqrstuvwxyz123456@github.com/acme/a/', 'ghp_abcdef'],
    ['clone https://oauth2:glpat-SECRETSECRETSECRET12@gitlab.com/a.git failed', 'SECRETSECRET'],
    ['GET https://github.com/acme/a?access_token=tok123secret&x=1', 'tok123secret'],
    ['git -c http.extraHeader="AUTHORIZATION: basic eC1hY2Nlc3MtdG9rZW46c2VjcmV0" clone', 'eC1hY2Nlc3M'],
    ["git -c http.extraheader='Authorization: Bearer abc.def.ghi' fetch", 'abc.def.ghi'],
    ['request failed; Authorization: Bearer sk-live-123456', 'sk-live-123456'],
    ['authorization=token tokvalue987', 'tokvalue987'],
    ['token ghp_0123456789abcdefghijklmnopqrstuv leaked', 'ghp_0123456789'],
    ['github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz in output', 'github_pat_11'],
  ])('redacts %s', (message, secret) => {
    const out = redactSecrets(message);
    expect(out).not.toContain(secret);
    expect(out).toContain('[REDACTED]');
  });

  it('leaves ordinary messages alone', () => {
    const m = 'fatal: repository https://github.com/acme/agents not found (exit 128)';
    expect(redactSecrets(m)).toBe(m);
  });
});

describe('!external in templates', () => {
  const subtree = memoryFileSource({
    'teams/research/team.yaml': 'name: Research Lead\nfiles_dir: teams/research/files\nchildren: [!include members/analyst.yaml]\n',
    'teams/research/members/analyst.yaml': 'name: Analyst\ntier: 3\n',
    'teams/research/bad.yaml': 'name: Broken\ntier: 99\n',
    'teams/research/loop.yaml': 'name: Loop\nchildren: [!external {repo: "https://github.com/acme/agents", ref: v1.2.0, path: teams/research}]\n',
  });
  const org = (entry = 'org.yaml', ext = '{repo: "https://github.com/acme/agents", ref: v1.2.0, path: teams/research}') =>
    memoryFileSource({ [entry]: `name: Acme\ndefaults: {files_dir: shared}\nworkspaces:\n  - name: CEO\n    files_dir: ceo\n    children: [!external ${ext}]\n` });

  it('fails with external_unsupported when no resolver is configured', async () => {
    const err = await templateError(parseOrgTemplate({ allowedExternalRepos: hosts, source: org() }), 'external_unsupported');
    expect(err.path).toBe('workspaces[0].children[0]');
    await templateError(parseOrgTemplate({ allowedExternalRepos: hosts, inline: { name: 'I', workspaces: [{ '!external': valid }] } }), 'external_unsupported');
  });

  it('validates before resolving: a bad reference never reaches the resolver', async () => {
    const resolver = jest.fn<ReturnType<ExternalResolver>, Parameters<ExternalResolver>>();
    await templateError(parseOrgTemplate({ allowedExternalRepos: hosts, source: org('org.yaml', '{repo: "https://evil.com/a/b", ref: main, path: x}'), resolveExternal: resolver }), 'external_host_not_allowed');
    await templateError(parseOrgTemplate({ allowedExternalRepos: hosts, source: org('org.yaml', '{repo: "https://github.com/acme/b", ref: "a..b", path: x}'), resolveExternal: resolver }), 'external_invalid');
    await templateError(parseOrgTemplate({ allowedExternalRepos: hosts, source: memoryFileSource({ 'org.yaml': 'name: A\nworkspaces: [!external x]\n' }), resolveExternal: resolver }), 'yaml_invalid');
    expect(resolver).not.toHaveBeenCalled();
  });

  it('resolves through the injected resolver; includes inside stay relative to the subtree', async () => {
    const resolver = jest.fn<ReturnType<ExternalResolver>, Parameters<ExternalResolver>>(async () => ({ source: subtree, entry: 'teams/research/team.yaml' }));
    const t = await parseOrgTemplate({ allowedExternalRepos: hosts, source: org(), resolveExternal: resolver });
    expect(resolver).toHaveBeenCalledWith({ repo: 'https://github.com/acme/agents', ref: 'v1.2.0', path: 'teams/research' });
    const flat = flattenTemplate(t);
    expect(flat.map((w) => w.key)).toEqual(['CEO', 'CEO/Research Lead', 'CEO/Research Lead/Analyst']);
    const address = contentAddress({ repo: 'https://github.com/acme/agents', ref: 'v1.2.0', path: 'teams/research' });
    expect(flat[0]).toMatchObject({ files_dir: 'ceo' });
    expect(flat[0].files_dir_external).toBeUndefined();
    // files_dir written inside the external subtree points into its cache entry.
    expect(flat[1]).toMatchObject({ files_dir: 'teams/research/files', files_dir_external: address });
    // A workspace in the subtree without its own files_dir inherits the root-relative default.
    expect(flat[2]).toMatchObject({ files_dir: 'shared' });
    expect(flat[2].files_dir_external).toBeUndefined();
  });

  it('blames the file inside the subtree for errors there', async () => {
    const err = await templateError(parseOrgTemplate({ allowedExternalRepos: hosts, source: org(), resolveExternal: async () => ({ source: subtree, entry: 'teams/research/bad.yaml' }) }), 'invalid_value');
    expect(err).toMatchObject({ file: 'teams/research/bad.yaml', path: 'workspaces[0].children[0].tier' });
  });

  it('confines the entry the resolver names', async () => {
    await templateError(parseOrgTemplate({ allowedExternalRepos: hosts, source: org(), resolveExternal: async () => ({ source: subtree, entry: '../../etc/passwd' }) }), 'include_escape');
  });

  it('detects an external subtree that includes itself', async () => {
    await templateError(parseOrgTemplate({ allowedExternalRepos: hosts, source: org(), resolveExternal: async () => ({ source: subtree, entry: 'teams/research/loop.yaml' }) }), 'include_cycle');
  });

  it('caps external nesting at depth 4', async () => {
    const nested = (levels: number): ExternalResolver => async (ref) => {
      const level = Number(ref.path.slice(1));
      const next = level < levels ? `children: [!external {repo: "https://github.com/acme/agents", ref: main, path: l${level + 1}}]\n` : '';
      return { source: memoryFileSource({ 'entry.yaml': `name: L${level}\n${next}` }), entry: 'entry.yaml' };
    };
    const root = memoryFileSource({ 'org.yaml': 'name: A\nworkspaces: [!external {repo: "https://github.com/acme/agents", ref: main, path: l1}]\n' });
    expect(flattenTemplate(await parseOrgTemplate({ allowedExternalRepos: hosts, source: root, resolveExternal: nested(4) }))).toHaveLength(4);
    await templateError(parseOrgTemplate({ allowedExternalRepos: hosts, source: root, resolveExternal: nested(5) }), 'external_depth');
  });

  it('wraps resolver failures with a fixed message and a redacted internal detail', async () => {
    const resolveExternal: ExternalResolver = async () => {
      throw new Error('git clone https://x-access-token:ghp_abcdefghijklmnopqrstuvwxyz0123@github.com/acme/agents failed');
    };
    const err = await templateError(parseOrgTemplate({ allowedExternalRepos: hosts, source: org(), resolveExternal }), 'external_failed');
    expect(err.message).not.toContain('github.com');
    expect(err.internalDetail).toContain('[REDACTED]');
    expect(err.internalDetail).not.toContain('ghp_');
  });

  it('rejects a malformed resolver answer', async () => {
    const bad = (async () => ({ source: {}, entry: 5 })) as unknown as ExternalResolver;
    await templateError(parseOrgTemplate({ allowedExternalRepos: hosts, source: org(), resolveExternal: bad }), 'external_failed');
  });

  it('works from an inline template with the {"!external": {...}} spelling', async () => {
    const t = await parseOrgTemplate({ allowedExternalRepos: hosts, inline: { name: 'I', workspaces: [{ '!external': valid }] }, resolveExternal: async () => ({ source: subtree, entry: 'teams/research/team.yaml' }) });
    expect(flattenTemplate(t).map((w) => w.key)).toEqual(['Research Lead', 'Research Lead/Analyst']);
  });
});
