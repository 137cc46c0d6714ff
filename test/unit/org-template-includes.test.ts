import { mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runInNewContext } from 'node:vm';
import {
  LIMITS,
  type TemplateFileSource,
  diskFileSource,
  flattenTemplate,
  memoryFileSource,
  parseOrgTemplate,
} from '../../domain/org-template';
import { templateError } from '../fixtures/org-templates/support';

const FIXTURE = join(__dirname, '..', 'fixtures', 'org-templates', 'acme');

/** org.yaml → teams/a.yaml (lead) → teams/research.yaml, plus a decoy research.yaml at the root. */
const threeLevels: Record<string, string> = {
  'org.yaml': 'name: Acme\nworkspaces: [!include teams/a.yaml, !include teams/b.yaml]\n',
  'teams/a.yaml': 'name: Team A Lead\nchildren: [!include research.yaml]\n',
  'teams/b.yaml': 'name: Team B Lead\nchildren:\n  - !include sub/analyst.yaml\n  - !include ../shared/writer.yaml\n',
  'teams/research.yaml': 'name: Researcher\ntier: 2\n',
  'teams/sub/analyst.yaml': 'name: Analyst\n',
  'shared/writer.yaml': 'name: Writer\n',
  'research.yaml': 'name: Wrong Researcher (root-relative resolution)\n',
};

const parseFiles = (files: Record<string, string>) => parseOrgTemplate({ source: memoryFileSource(files) });

describe('!include', () => {
  it('expands a 3-level tree, each file resolving its includes relative to its own directory', async () => {
    const t = await parseFiles(threeLevels);
    expect(flattenTemplate(t).map((w) => w.key)).toEqual([
      'Team A Lead',
      'Team A Lead/Researcher',
      'Team B Lead',
      'Team B Lead/Analyst',
      'Team B Lead/Writer',
    ]);
    expect(t.workspaces[0].children[0].tier).toBe(2);
  });

  it('reads the same tree from disk (fixture directory) as from memory', async () => {
    const t = await parseOrgTemplate({ source: diskFileSource(FIXTURE) });
    expect(flattenTemplate(t).map((w) => w.key)).toEqual([
      'Acme CEO',
      'Acme CEO/PM',
      'Acme CEO/PM/Researcher',
      'Acme CEO/Engineering Lead',
      'Acme CEO/Engineering Lead/Backend',
    ]);
    expect(t.workspaces[0].children[0].files_dir).toBe('files/pm');
  });

  it('accepts a custom entry file', async () => {
    const t = await parseOrgTemplate({ source: memoryFileSource({ 'orgs/small.yaml': 'name: Small\nworkspaces: [!include team.yaml]\n', 'orgs/team.yaml': 'name: Solo\n' }), entry: 'orgs/small.yaml' });
    expect(t.workspaces.map((w) => w.name)).toEqual(['Solo']);
  });

  it('includes any value, not only workspaces (lists, env requirements)', async () => {
    const t = await parseFiles({
      'org.yaml': 'name: Acme\nworkspaces: !include all.yaml\n',
      'all.yaml': '- name: One\n  required_env: !include env/one.yaml\n',
      'env/one.yaml': '[API_KEY]\n',
    });
    expect(t.workspaces[0].required_env).toEqual(['API_KEY']);
  });

  it('lets siblings include the same file (a diamond is not a cycle)', async () => {
    const t = await parseFiles({
      'org.yaml': 'name: Acme\nworkspaces:\n  - name: A\n    children: [!include w.yaml]\n  - name: B\n    children: [!include w.yaml]\n',
      'w.yaml': 'name: Shared\n',
    });
    expect(flattenTemplate(t).map((w) => w.key)).toEqual(['A', 'A/Shared', 'B', 'B/Shared']);
  });

  it('blames the included file and the tree path for an error inside it', async () => {
    const files = { ...threeLevels, 'teams/research.yaml': 'name: Researcher\ntier: 99\n' };
    const err = await templateError(parseFiles(files), 'invalid_value');
    expect(err.file).toBe('teams/research.yaml');
    expect(err.path).toBe('workspaces[0].children[0].tier');
  });

  it('blames the including file for a missing include, without repeating the path', async () => {
    const err = await templateError(parseFiles({ 'org.yaml': 'name: A\nworkspaces: [!include teams/zz-missing-zz.yaml]\n' }), 'file_not_found');
    expect(err.file).toBe('org.yaml');
    expect(err.path).toBe('workspaces[0]');
    expect(err.message).not.toContain('zz-missing-zz');
  });

  it('reports a missing entry file', async () => {
    await templateError(parseFiles({}), 'file_not_found');
  });

  describe('paths are confined to the template root', () => {
    it.each([
      ['../../etc/passwd'],
      ['../org.yaml'],
      ['teams/../../etc/passwd'],
      ['/etc/passwd'],
      ['C:/Windows/win.ini'],
      ['"..\\\\..\\\\etc\\\\passwd"'],
      ['"a\\0b.yaml"'],
      ['"teams/\\x01.yaml"'],
      ['"x\\ny.yaml"'],
    ])('rejects %s', async (target) => {
      const err = await templateError(parseFiles({ 'org.yaml': `name: A\nworkspaces: [!include ${target}]\n`, 'etc/passwd': 'name: x\n' }), 'include_escape');
      expect(err.file).toBe('org.yaml');
      expect(err.message).not.toMatch(/passwd|win\.ini/);
    });

    it('rejects a nested file climbing out of the root', async () => {
      const err = await templateError(
        parseFiles({ 'org.yaml': 'name: A\nworkspaces: [!include teams/a.yaml]\n', 'teams/a.yaml': 'name: L\nchildren: [!include ../../etc/passwd]\n' }),
        'include_escape',
      );
      expect(err.file).toBe('teams/a.yaml');
      expect(err.path).toBe('workspaces[0].children[0]');
    });

    it('allows `..` that stays inside the root', async () => {
      const t = await parseFiles({ 'org.yaml': 'name: A\nworkspaces: [!include teams/../shared/./w.yaml]\n', 'shared/w.yaml': 'name: W\n' });
      expect(t.workspaces[0].name).toBe('W');
    });

    it('never percent-decodes: encoded-looking names are ordinary file names inside the root', async () => {
      await templateError(parseFiles({ 'org.yaml': 'name: A\nworkspaces: [!include "%2e%2e/%2e%2e/etc/passwd"]\n' }), 'file_not_found');
      await templateError(parseFiles({ 'org.yaml': 'name: A\nworkspaces: [!include ..%2f..%2fetc%2fpasswd]\n' }), 'file_not_found');
      await templateError(parseFiles({ 'org.yaml': 'name: A\nworkspaces: [!include ....//....//etc/passwd]\n' }), 'file_not_found');
      const t = await parseFiles({ 'org.yaml': 'name: A\nworkspaces: [!include "%2e%2e/w.yaml"]\n', '%2e%2e/w.yaml': 'name: Literal\n' });
      expect(t.workspaces[0].name).toBe('Literal');
    });

    it('rejects empty, non-string and overlong include targets', async () => {
      await templateError(parseFiles({ 'org.yaml': 'name: A\nworkspaces: [!include ""]\n' }), 'invalid_include_path');
      await templateError(parseFiles({ 'org.yaml': `name: A\nworkspaces: [!include ${'a/'.repeat(600)}x.yaml]\n` }), 'invalid_include_path');
    });

    it('rejects an include tag on a mapping or list (not a scalar path)', async () => {
      await templateError(parseFiles({ 'org.yaml': 'name: A\nworkspaces: [!include {path: x.yaml}]\n' }), 'yaml_invalid');
    });

    it('rejects unknown tags instead of turning them into strings', async () => {
      await templateError(parseFiles({ 'org.yaml': 'name: A\nworkspaces: [!inclde x.yaml]\n' }), 'yaml_invalid');
      await templateError(parseFiles({ 'org.yaml': 'name: !!binary aGVsbG8=\n' }), 'yaml_invalid');
    });
  });

  describe('cycles and depth', () => {
    it('detects a file including itself', async () => {
      const err = await templateError(parseFiles({ 'org.yaml': 'name: A\nworkspaces: [!include org.yaml]\n' }), 'include_cycle');
      expect(err.file).toBe('org.yaml');
    });

    it('detects a longer cycle, whatever spelling the path uses', async () => {
      const err = await templateError(
        parseFiles({
          'org.yaml': 'name: A\nworkspaces: [!include teams/a.yaml]\n',
          'teams/a.yaml': 'name: L\nchildren: [!include b.yaml]\n',
          'teams/b.yaml': 'name: M\nchildren: [!include ./../teams/a.yaml]\n',
        }),
        'include_cycle',
      );
      expect(err.file).toBe('teams/b.yaml');
      expect(err.path).toBe('workspaces[0].children[0].children[0]');
    });

    const chain = (links: number): Record<string, string> => {
      const files: Record<string, string> = { 'org.yaml': 'name: Deep\nworkspaces: [!include d1.yaml]\n' };
      for (let i = 1; i <= links; i++) files[`d${i}.yaml`] = i < links ? `name: W${i}\nchildren: [!include d${i + 1}.yaml]\n` : `name: W${i}\n`;
      return files;
    };

    it(`accepts ${LIMITS.maxIncludeDepth} nested includes`, async () => {
      const t = await parseFiles(chain(16));
      expect(flattenTemplate(t)).toHaveLength(16);
    });

    it('rejects 17 nested includes with include_depth', async () => {
      const err = await templateError(parseFiles(chain(17)), 'include_depth');
      expect(err.file).toBe('d16.yaml');
    });

    it('stops a cycle the visited set cannot see (a source whose paths alias each other) at the depth cap', async () => {
      // Every path reads the same content, so the visited set sees distinct names forever.
      let reads = 0;
      const aliasing: TemplateFileSource = {
        read: async (p) => {
          reads += 1;
          return p === 'org.yaml' ? 'name: A\nworkspaces: [!include x/w.yaml]\n' : 'name: W\nchildren: [!include x/w.yaml]\n';
        },
      };
      await templateError(parseOrgTemplate({ source: aliasing }), 'include_depth');
      expect(reads).toBe(LIMITS.maxIncludeDepth + 1);
    });
  });

  describe('inline templates', () => {
    it('parses an inline template without includes', async () => {
      const t = await parseOrgTemplate({ inline: { name: 'Inline', workspaces: [{ name: 'Solo', children: [{ name: 'Child' }] }] } });
      expect(flattenTemplate(t).map((w) => w.key)).toEqual(['Solo', 'Solo/Child']);
    });

    it('rejects {"!include": path} anywhere with include_without_base', async () => {
      const err = await templateError(parseOrgTemplate({ inline: { name: 'Inline', workspaces: [{ '!include': 'teams/a.yaml' }] } }), 'include_without_base');
      expect(err.file).toBe('<inline>');
      expect(err.path).toBe('workspaces[0]');
      const deep = { name: 'I', workspaces: [{ name: 'L', children: [{ name: 'C', required_env: { '!include': 'env.yaml' } }] }] };
      expect((await templateError(parseOrgTemplate({ inline: deep }), 'include_without_base')).path).toBe('workspaces[0].children[0].required_env');
    });

    it('treats the YAML spelling "!include x" in JSON as a plain string (so a workspace entry is the wrong type)', async () => {
      await templateError(parseOrgTemplate({ inline: { name: 'I', workspaces: ['!include teams/a.yaml'] } }), 'invalid_type');
    });

    it('requires exactly one of source and inline', async () => {
      await templateError(parseOrgTemplate({}), 'invalid_input');
      await templateError(parseOrgTemplate({ source: memoryFileSource({}), inline: { name: 'x' } }), 'invalid_input');
    });

    it('rejects values JSON cannot hold', async () => {
      await templateError(parseOrgTemplate({ inline: { name: 'I', description: new Date() } }), 'invalid_type');
      await templateError(parseOrgTemplate({ inline: { name: 'I', description: () => 1 } }), 'invalid_type');
    });

    it('accepts plain objects built in another realm (vm context, structuredClone)', async () => {
      const foreign: unknown = runInNewContext('({ name: "Realm", workspaces: [{ name: "W", canvas: { x: 1, y: 2 } }] })');
      expect((await parseOrgTemplate({ inline: foreign })).workspaces[0].canvas).toEqual({ x: 1, y: 2 });
      expect((await parseOrgTemplate({ inline: structuredClone({ name: 'Clone', workspaces: [{ name: 'W' }] }) })).name).toBe('Clone');
      await templateError(parseOrgTemplate({ inline: runInNewContext('({ name: "R", description: new Map() })') }), 'invalid_type');
    });

    it('keeps a __proto__ key as data, never as a prototype', async () => {
      const inline: unknown = JSON.parse('{"name":"I","__proto__":{"polluted":true},"workspaces":[{"name":"W","__proto__":{"spawning":false}}]}');
      const t = await parseOrgTemplate({ inline });
      expect(flattenTemplate(t)[0].spawn).toBe(true);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      expect(t.warnings.map((w) => w.message)).toEqual(['unknown key "__proto__" ignored', 'unknown key "__proto__" ignored']);
    });
  });

  describe('resource bounds', () => {
    it('rejects a billion-laughs YAML bomb quickly', async () => {
      const lines = ['name: Bomb', 'l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
      for (let i = 1; i < 10; i++) lines.push(`l${i}: &l${i} [${Array(9).fill(`*l${i - 1}`).join(',')}]`);
      const started = Date.now();
      await templateError(parseFiles({ 'org.yaml': lines.join('\n') }), 'yaml_alias_limit');
      expect(Date.now() - started).toBeLessThan(1000);
    });

    it('rejects thousands of aliases before yaml resolves them (quadratic in yaml)', async () => {
      const started = Date.now();
      await templateError(parseFiles({ 'org.yaml': `name: A\nv: &v 1\nl: [${Array(20000).fill('*v').join(',')}]\n` }), 'yaml_alias_limit');
      expect(Date.now() - started).toBeLessThan(2000);
    });

    it('bounds alias fan-out that yaml lets through with the value budget', async () => {
      const big = `[${Array(40000).fill('1').join(',')}]`;
      await templateError(parseFiles({ 'org.yaml': `name: A\na: &a ${big}\nb: [${Array(10).fill('*a').join(',')}]\n` }), 'template_too_large');
    });

    it('rejects a file over 256 KiB, entry or included', async () => {
      const big = `name: A\ndescription: "${'x'.repeat(LIMITS.maxFileBytes)}"\n`;
      await templateError(parseFiles({ 'org.yaml': big }), 'file_too_large');
      const err = await templateError(parseFiles({ 'org.yaml': 'name: A\nworkspaces: [!include big.yaml]\n', 'big.yaml': big }), 'file_too_large');
      expect(err.path).toBe('workspaces[0]');
    });

    it('counts multibyte characters as bytes', async () => {
      const text = `name: A\ndescription: "${'é'.repeat(LIMITS.maxFileBytes / 2)}"\n`;
      await templateError(parseFiles({ 'org.yaml': text }), 'file_too_large');
    });

    it('rejects more than 1 MiB in total across files', async () => {
      const files: Record<string, string> = { 'org.yaml': `name: A\nworkspaces: [${Array.from({ length: 5 }, (_, i) => `!include w${i}.yaml`).join(', ')}]\n` };
      for (let i = 0; i < 5; i++) files[`w${i}.yaml`] = `name: W${i}\nrole: "${'r'.repeat(250 * 1024)}"\n`;
      await templateError(parseFiles(files), 'template_too_large');
    });

    it('counts a file included many times against the total', async () => {
      const files: Record<string, string> = { 'org.yaml': `name: A\nworkspaces: [${Array.from({ length: 6 }, (_, i) => `{name: W${i}, prompts: [!include p.yaml]}`).join(', ')}]\n` };
      files['p.yaml'] = `"${'p'.repeat(200 * 1024)}"\n`;
      await templateError(parseFiles(files), 'template_too_large');
    });

    it('rejects pathological nesting cleanly', async () => {
      await templateError(parseFiles({ 'org.yaml': `name: A\nx: ${'['.repeat(5000)}${']'.repeat(5000)}\n` }), 'yaml_invalid');
      await templateError(parseFiles({ 'org.yaml': `name: A\nx: ${'['.repeat(200)}${']'.repeat(200)}\n` }), 'nesting_too_deep');
      await templateError(parseOrgTemplate({ inline: JSON.parse(`{"name":"A","x":${'['.repeat(5000)}${']'.repeat(5000)}}`) }), 'nesting_too_deep');
    });

    it('names the scalar that is one level too deep (scalars are counted without an await of their own)', async () => {
      const depth = LIMITS.maxValueNesting;
      const inline = JSON.parse(`{"name":"A","x":${'['.repeat(depth)}1${']'.repeat(depth)}}`);
      const err = await templateError(parseOrgTemplate({ inline }), 'nesting_too_deep');
      expect(err.path).toBe(`x${'[0]'.repeat(depth)}`);
      // One level less is within bounds: the array at the limit holds its scalar.
      await expect(parseOrgTemplate({ inline: JSON.parse(`{"name":"A","x":${'['.repeat(depth - 1)}1${']'.repeat(depth - 1)}}`) })).resolves.toMatchObject({ name: 'A' });
    });

    it('rejects invalid YAML with the line number only', async () => {
      const err = await templateError(parseFiles({ 'org.yaml': 'name: A\nworkspaces:\n  - name: [unclosed SECRETMARKER\n' }), 'yaml_invalid');
      expect(err.message).toMatch(/line \d+/);
      expect(err.message).not.toContain('SECRETMARKER');
    });

    it('rejects duplicate keys and multiple documents', async () => {
      await templateError(parseFiles({ 'org.yaml': 'name: A\nname: B\n' }), 'yaml_invalid');
      await templateError(parseFiles({ 'org.yaml': 'name: A\n---\nname: B\n' }), 'yaml_invalid');
    });
  });
});

describe('diskFileSource', () => {
  let root: string;
  let outside: string;
  beforeEach(() => {
    const base = mkdtempSync(join(tmpdir(), 'org-template-'));
    root = join(base, 'root');
    outside = join(base, 'outside');
    mkdirSync(join(root, 'teams'), { recursive: true });
    mkdirSync(outside);
    writeFileSync(join(outside, 'secret.yaml'), 'name: Stolen\n');
    writeFileSync(join(root, 'teams', 'lead.yaml'), 'name: Lead\n');
  });
  afterEach(() => rmSync(join(root, '..'), { recursive: true, force: true }));

  const parseRoot = () => parseOrgTemplate({ source: diskFileSource(root) });
  const writeOrg = (text: string) => writeFileSync(join(root, 'org.yaml'), text);

  it('rejects a symlinked file that points outside the root', async () => {
    symlinkSync(join(outside, 'secret.yaml'), join(root, 'teams', 'link.yaml'));
    writeOrg('name: A\nworkspaces: [!include teams/link.yaml]\n');
    const err = await templateError(parseRoot(), 'include_escape');
    expect(err.file).toBe('org.yaml');
    expect(err.message).not.toContain(outside);
  });

  it('rejects a symlinked directory that points outside the root', async () => {
    symlinkSync(outside, join(root, 'shared'));
    writeOrg('name: A\nworkspaces: [!include shared/secret.yaml]\n');
    await templateError(parseRoot(), 'include_escape');
  });

  it('follows a symlink that stays inside the root', async () => {
    symlinkSync(join(root, 'teams', 'lead.yaml'), join(root, 'alias.yaml'));
    writeOrg('name: A\nworkspaces: [!include alias.yaml]\n');
    expect((await parseRoot()).workspaces[0].name).toBe('Lead');
  });

  it('sees through symlinks for cycle detection (visited set of real paths)', async () => {
    symlinkSync(join(root, 'org.yaml'), join(root, 'teams', 'again.yaml'));
    writeOrg('name: A\nworkspaces: [!include teams/again.yaml]\n');
    await templateError(parseRoot(), 'include_cycle');
  });

  it('rejects a files_dir that escapes through a symlink', async () => {
    symlinkSync(outside, join(root, 'files'));
    writeOrg('name: A\nworkspaces: [{name: W, files_dir: files}]\n');
    const err = await templateError(parseRoot(), 'include_escape');
    expect(err.path).toBe('workspaces[0].files_dir');
  });

  it('accepts a files_dir that does not exist yet (copying is a later step)', async () => {
    writeOrg('name: A\nworkspaces: [{name: W, files_dir: files/w}]\n');
    expect((await parseRoot()).workspaces[0].files_dir).toBe('files/w');
  });

  it('rejects a directory where a file is expected, and a missing root', async () => {
    writeOrg('name: A\nworkspaces: [!include teams]\n');
    await templateError(parseRoot(), 'file_not_found');
    await templateError(parseOrgTemplate({ source: diskFileSource(join(root, 'nope')) }), 'file_not_found');
  });

  it('rejects an oversized file before reading it', async () => {
    writeFileSync(join(root, 'org.yaml'), Buffer.alloc(LIMITS.maxFileBytes + 1, 0x61));
    await templateError(parseRoot(), 'file_too_large');
  });

  it('confines direct reads too', async () => {
    const source = diskFileSource(root);
    await templateError(source.read('../outside/secret.yaml'), 'include_escape');
    await templateError(source.read('/etc/passwd'), 'include_escape');
    await expect(source.read('teams/lead.yaml')).resolves.toBe('name: Lead\n');
  });
});
