import { z } from 'zod';
import { LIMITS, PRINTABLE_KEYS, type OrgTemplate, countWorkspaces, flattenTemplate, memoryFileSource, orgKeyOf, parseOrgTemplate } from '../../domain/org-template';
import { OrgSchema, WorkspaceSchema } from '../../domain/org-template/schema';
import { RUNTIMES } from '../../domain/vocabulary';
import { templateError } from '../fixtures/org-templates/support';

const inline = (template: unknown, env?: Record<string, string>) => parseOrgTemplate({ inline: template, env });
const one = (workspace: Record<string, unknown>, env?: Record<string, string>) => inline({ name: 'Org', workspaces: [workspace] }, env);
const yaml = (text: string) => parseOrgTemplate({ source: memoryFileSource({ 'org.yaml': text }) });

describe('org template schema', () => {
  describe('org_key', () => {
    it('is the explicit slug when given, else the template name', async () => {
      const keyed = await inline({ name: 'Acme Corp', org_key: 'acme-corp.eu_1', workspaces: [] });
      expect(keyed.org_key).toBe('acme-corp.eu_1');
      expect(orgKeyOf(keyed)).toBe('acme-corp.eu_1');
      const named = await inline({ name: 'Acme Corp', workspaces: [] });
      expect(named.org_key).toBeUndefined();
      expect(orgKeyOf(named)).toBe('Acme Corp');
      expect(orgKeyOf(await inline({ name: 'Acme Corp', org_key: null, workspaces: [] }))).toBe('Acme Corp');
      expect((await yaml('name: Y\norg_key: y-org\nworkspaces: []\n')).org_key).toBe('y-org');
      expect((await inline({ name: 'Org', org_key: 'a'.repeat(64), workspaces: [] })).org_key).toHaveLength(64);
    });

    it.each([['upper case', 'Acme'], ['a space', 'acme corp'], ['a leading dash', '-acme'], ['a slash', 'a/b'], ['65 characters', 'a'.repeat(65)], ['empty', ''], ['non-ASCII', 'acmé'], ['a newline', 'a\nb']])(
      'rejects an org_key with %s, naming the field',
      async (_, orgKey) => {
        expect((await templateError(inline({ name: 'Org', org_key: orgKey, workspaces: [] }), 'invalid_value')).path).toBe('org_key');
      },
    );

    it('rejects an org_key that is not a string', async () => {
      expect((await templateError(inline({ name: 'Org', org_key: 7, workspaces: [] }), 'invalid_type')).path).toBe('org_key');
    });
  });

  describe('names', () => {
    it('requires an org name and a workspace name', async () => {
      expect((await templateError(inline({ workspaces: [] }), 'missing_field')).path).toBe('name');
      expect((await templateError(one({ role: 'x' }), 'missing_field')).path).toBe('workspaces[0].name');
      expect((await templateError(one({ name: null }), 'missing_field')).path).toBe('workspaces[0].name');
    });

    it('trims names and accepts 1..200 characters, including non-ASCII', async () => {
      const t = await one({ name: '  Research Lead  ', children: [{ name: 'x'.repeat(200) }, { name: 'Ingénieur 🤖' }] });
      expect(t.workspaces[0].name).toBe('Research Lead');
      expect(t.workspaces[0].children.map((c) => c.name)).toEqual(['x'.repeat(200), 'Ingénieur 🤖']);
    });

    it.each([
      ['empty', ''],
      ['blank', '   \t '],
      ['too long', 'x'.repeat(201)],
      ['a NUL', 'a\u0000b'],
      ['a bell', 'a\u0007b'],
      ['a newline', 'line\nbreak'],
      ['DEL', 'a\u007fb'],
      ['a C1 control', 'a\u0085b'],
      ['a bidi override', 'admin\u202Egpj.exe'],
      ['a line separator', 'a\u2028b'],
    ])('rejects a name that is %s', async (_, name) => {
      const err = await templateError(one({ name }), 'invalid_value');
      expect(err.path).toBe('workspaces[0].name');
    });

    it('rejects a non-string name', async () => {
      expect((await templateError(one({ name: 42 }), 'invalid_type')).message).toContain('must be a string');
      await templateError(one({ name: ['a'] }), 'invalid_type');
    });

    it('rejects duplicate sibling names but allows the same name under different parents', async () => {
      const err = await templateError(inline({ name: 'O', workspaces: [{ name: 'A' }, { name: ' A ' }] }), 'duplicate_name');
      expect(err.path).toBe('workspaces[1].name');
      const t = await inline({ name: 'O', workspaces: [{ name: 'A', children: [{ name: 'QA' }] }, { name: 'B', children: [{ name: 'QA' }] }] });
      expect(countWorkspaces(t)).toBe(4);
    });
  });

  describe('workspace fields', () => {
    it('accepts every documented field', async () => {
      const t = await one(
        {
          name: 'W',
          role: 'Writes',
          tier: 3,
          runtime: 'hermes',
          model: 'anthropic/claude-sonnet-4',
          files_dir: 'files/./w/',
          workspace_dir: '${WORK_ROOT}/w',
          plugins: ['github', '@acme/search@1.2'],
          required_env: ['GITHUB_TOKEN'],
          recommended_env: [{ any_of: ['SERPAPI_KEY', 'BRAVE_KEY'] }],
          spawning: true,
          max_concurrent_tasks: 4,
          canvas: { x: 10.5, y: -20 },
          schedules: [{ cron: '*/15 9-17 * * MON-FRI', prompt: 'Check the inbox.' }, { cron: '@daily', prompt: 'Report.', enabled: false }],
          prompts: ['Introduce yourself.'],
          env: { LOG_LEVEL: 'debug' },
          compute: 'ec2',
        },
        { WORK_ROOT: '/srv/agents' },
      );
      const w = t.workspaces[0];
      expect(w).toEqual({
        name: 'W',
        role: 'Writes',
        tier: 3,
        runtime: 'hermes',
        model: 'anthropic/claude-sonnet-4',
        files_dir: 'files/w',
        workspace_dir: '/srv/agents/w',
        plugins: ['github', '@acme/search@1.2'],
        required_env: ['GITHUB_TOKEN'],
        recommended_env: [{ any_of: ['SERPAPI_KEY', 'BRAVE_KEY'] }],
        spawning: true,
        max_concurrent_tasks: 4,
        canvas: { x: 10.5, y: -20 },
        schedules: [
          { cron: '*/15 9-17 * * MON-FRI', prompt: 'Check the inbox.', enabled: true },
          { cron: '@daily', prompt: 'Report.', enabled: false },
        ],
        prompts: ['Introduce yourself.'],
        env: { LOG_LEVEL: 'debug' },
        compute: 'ec2',
        children: [],
      });
      expect(t.warnings).toEqual([]);
    });

    it('treats null as "not set"', async () => {
      const t = await yaml('name: O\nworkspaces:\n  - name: W\n    model:\n    children:\n');
      expect(t.workspaces[0]).toEqual({ name: 'W', children: [] });
    });

    it('checks tier is an integer in 0..10', async () => {
      expect((await one({ name: 'W', tier: 10 })).workspaces[0].tier).toBe(10);
      await templateError(one({ name: 'W', tier: 11 }), 'invalid_value');
      await templateError(one({ name: 'W', tier: -1 }), 'invalid_value');
      expect((await templateError(one({ name: 'W', tier: 2.5 }), 'invalid_type')).message).toContain('must be an integer');
      await templateError(one({ name: 'W', tier: '1' }), 'invalid_type');
    });

    it('keeps known runtimes and falls back for unknown ones with a warning', async () => {
      for (const runtime of RUNTIMES) expect((await one({ name: 'W', runtime })).workspaces[0].runtime).toBe(runtime);
      const t = await one({ name: 'W', runtime: 'gpt-engineer' });
      expect(t.workspaces[0].runtime).toBe('claude-code');
      expect(t.warnings).toEqual([{ file: '<inline>', path: 'workspaces[0].runtime', message: 'unknown runtime; falls back to claude-code' }]);
      await templateError(one({ name: 'W', runtime: 5 }), 'invalid_type');
    });

    it('clamps max_concurrent_tasks to 1..100 but rejects non-integers', async () => {
      const clamp = async (n: number) => (await one({ name: 'W', max_concurrent_tasks: n })).workspaces[0].max_concurrent_tasks;
      expect(await clamp(0)).toBe(1);
      expect(await clamp(-7)).toBe(1);
      expect(await clamp(50)).toBe(50);
      expect(await clamp(500)).toBe(100);
      expect(await clamp(1e300)).toBe(100);
      await templateError(one({ name: 'W', max_concurrent_tasks: 2.5 }), 'invalid_value');
      await templateError(one({ name: 'W', max_concurrent_tasks: '5' }), 'invalid_type');
    });

    it('clamps canvas coordinates to ±1e6 and rejects non-finite ones', async () => {
      expect((await one({ name: 'W', canvas: { x: 5e9, y: -5e9 } })).workspaces[0].canvas).toEqual({ x: 1e6, y: -1e6 });
      await templateError(yaml('name: O\nworkspaces: [{name: W, canvas: {x: .inf, y: 0}}]\n'), 'invalid_type');
      await templateError(yaml('name: O\nworkspaces: [{name: W, canvas: {x: .nan, y: 0}}]\n'), 'invalid_type');
      expect((await templateError(one({ name: 'W', canvas: { x: 1 } }), 'missing_field')).path).toBe('workspaces[0].canvas.y');
    });

    it('validates schedules', async () => {
      await templateError(one({ name: 'W', schedules: [{ cron: 'every day', prompt: 'p' }] }), 'invalid_value');
      await templateError(one({ name: 'W', schedules: [{ cron: '* * *', prompt: 'p' }] }), 'invalid_value');
      expect((await templateError(one({ name: 'W', schedules: [{ cron: '0 * * * *' }] }), 'missing_field')).path).toBe('workspaces[0].schedules[0].prompt');
      await templateError(one({ name: 'W', schedules: [{ cron: '0 * * * *', prompt: 'p', enabled: 'yes' }] }), 'invalid_type');
      await templateError(one({ name: 'W', schedules: { cron: '0 * * * *', prompt: 'p' } }), 'invalid_type');
    });

    it('validates plugins, prompts, env and compute', async () => {
      await templateError(one({ name: 'W', plugins: ['has space'] }), 'invalid_value');
      await templateError(one({ name: 'W', plugins: 'github' }), 'invalid_type');
      await templateError(one({ name: 'W', prompts: [1] }), 'invalid_type');
      const badKey = await templateError(one({ name: 'W', env: { lower_case: 'x' } }), 'invalid_value');
      expect(badKey.path).toBe('workspaces[0].env.*');
      expect(badKey.message).toContain('invalid key');
      await templateError(one({ name: 'W', env: { PORT: 8080 } }), 'invalid_type');
      const compute = await templateError(one({ name: 'W', compute: 'k8s' }), 'invalid_value');
      expect(compute.message).toContain('must be one of: docker, ec2');
    });

    it('confines files_dir to the template root', async () => {
      for (const files_dir of ['../x', '../../etc', '/etc', 'a/../../b', 'a\u0000b']) {
        expect((await templateError(one({ name: 'W', files_dir }), 'include_escape')).path).toBe('workspaces[0].files_dir');
      }
      await templateError(one({ name: 'W', files_dir: '.' }), 'invalid_value');
      await templateError(one({ name: 'W', files_dir: '' }), 'invalid_include_path');
    });

    it('expands ${VAR} in workspace_dir from env; an unset variable is an error', async () => {
      const env = { HOME: '/home/agent', TEAM: 'red' };
      await templateError(one({ name: 'W', workspace_dir: '${HOME}/teams/${TEAM}' }), 'unset_variable');
      expect((await inline({ name: 'O', workspaces: [{ name: 'W', workspace_dir: '${HOME}/teams/${TEAM}' }] }, env)).workspaces[0].workspace_dir).toBe('/home/agent/teams/red');
      expect((await inline({ name: 'O', workspaces: [{ name: 'W', workspace_dir: '$HOME/${TEAM}-$' }] }, env)).workspaces[0].workspace_dir).toBe('$HOME/red-$');
      // A value is substituted once, never re-expanded.
      expect((await inline({ name: 'O', workspaces: [{ name: 'W', workspace_dir: '/x/${A}' }] }, { A: '${HOME}' })).workspaces[0].workspace_dir).toBe('/x/${HOME}');
      const unset = await templateError(inline({ name: 'O', workspaces: [{ name: 'W', workspace_dir: '${ROOT}/w' }] }, env), 'unset_variable');
      expect(unset.path).toBe('workspaces[0].workspace_dir');
      expect(unset.message).not.toContain('ROOT');
      await templateError(inline({ name: 'O', workspaces: [{ name: 'W', workspace_dir: '${bad-name}/w' }] }, env), 'invalid_value');
      await templateError(inline({ name: 'O', workspaces: [{ name: 'W', workspace_dir: '/w/${HOME' }] }, env), 'invalid_value');
      await templateError(inline({ name: 'O', workspaces: [{ name: 'W', workspace_dir: '/w/${X}' }] }, { X: 'a\nb' }), 'invalid_value');
      await templateError(inline({ name: 'O', workspaces: [{ name: 'W', workspace_dir: '/w/${constructor}' }] }, {}), 'unset_variable');
    });
  });

  describe('unknown keys', () => {
    it('are warnings, with the file and the path of the object that holds them', async () => {
      const t = await parseOrgTemplate({
        source: memoryFileSource({
          'org.yaml': 'name: O\nversion: 2\nworkspaces: [!include team.yaml]\n',
          'team.yaml': 'name: T\nspawnning: false\ncanvas: {x: 1, y: 2, z: 3}\nrequired_env: [{any_of: [A_KEY], note: x}]\n"weird key!": 1\n',
        }),
      });
      expect(t.warnings).toEqual([
        { file: 'org.yaml', path: '', message: 'unknown key "version" ignored' },
        { file: 'team.yaml', path: 'workspaces[0]', message: 'unknown key "spawnning" ignored' },
        { file: 'team.yaml', path: 'workspaces[0].canvas', message: 'unknown key "z" ignored' },
        { file: 'team.yaml', path: 'workspaces[0].required_env[0]', message: 'unknown key "note" ignored' },
        { file: 'team.yaml', path: 'workspaces[0]', message: 'unknown key ignored' },
      ]);
      expect(flattenTemplate(t)[0].spawn).toBe(true);
    });

    it('name and children in defaults are ignored with a warning', async () => {
      const t = await inline({ name: 'O', defaults: { name: 'Everyone', children: [], tier: 1 }, workspaces: [{ name: 'W' }] });
      expect(t.warnings.map((w) => `${w.path}: ${w.message}`)).toEqual(['defaults: unknown key "name" ignored', 'defaults: unknown key "children" ignored']);
      expect(flattenTemplate(t)[0]).toMatchObject({ name: 'W', tier: 1 });
    });

    it('but wrong types of known keys are errors', async () => {
      await templateError(inline({ name: 'O', workspaces: { name: 'W' } }), 'invalid_type');
      await templateError(inline({ name: 'O', defaults: [] }), 'invalid_type');
      await templateError(one({ name: 'W', children: { name: 'C' } }), 'invalid_type');
      await templateError(one({ name: 'W', spawning: 'no' }), 'invalid_type');
      await templateError(inline({ name: 'O', workspaces: [[{ name: 'W' }]] }), 'invalid_type');
      await templateError(yaml('- name: O\n'), 'invalid_type');
      await templateError(yaml(''), 'invalid_type');
    });
  });

  describe('size and shape limits', () => {
    const flat = (n: number) => ({ name: 'O', workspaces: Array.from({ length: n }, (_, i) => ({ name: `W${i}` })) });

    it(`accepts ${LIMITS.maxWorkspaces} workspaces and rejects ${LIMITS.maxWorkspaces + 1}`, async () => {
      expect(countWorkspaces(await inline(flat(LIMITS.maxWorkspaces)))).toBe(LIMITS.maxWorkspaces);
      const err = await templateError(inline(flat(LIMITS.maxWorkspaces + 1)), 'too_many_workspaces');
      expect(err.path).toBe(`workspaces[${LIMITS.maxWorkspaces}]`);
    });

    it('counts nested workspaces towards the limit', async () => {
      const teams = Array.from({ length: Math.ceil(LIMITS.maxWorkspaces / 99) }, (_, t) => ({ name: `T${t}`, children: Array.from({ length: 99 }, (_, i) => ({ name: `W${i}` })) }));
      await templateError(inline({ name: 'O', workspaces: teams }), 'too_many_workspaces');
    });

    const chain = (levels: number) => {
      let node: Record<string, unknown> = { name: `L${levels}` };
      for (let i = levels - 1; i >= 1; i--) node = { name: `L${i}`, children: [node] };
      return { name: 'O', workspaces: [node] };
    };

    it(`accepts a tree ${LIMITS.maxTreeDepth} levels deep and rejects ${LIMITS.maxTreeDepth + 1}`, async () => {
      const flatList = flattenTemplate(await inline(chain(32)));
      expect(flatList.at(-1)?.depth).toBe(31);
      const err = await templateError(inline(chain(33)), 'tree_too_deep');
      expect(err.path).toBe(`workspaces[0]${'.children[0]'.repeat(32)}`);
    });

    it('every schema key is printable in error paths (and nothing else is)', () => {
      const keys = new Set<string>();
      const collect = (schema: z.ZodType): void => {
        let s: z.ZodType = schema;
        while (s instanceof z.ZodOptional || s instanceof z.ZodNullable || s instanceof z.ZodPipe) s = (s instanceof z.ZodPipe ? s.in : s.unwrap()) as z.ZodType;
        if (s instanceof z.ZodObject) {
          for (const [k, v] of Object.entries(s.shape as Record<string, z.ZodType>)) {
            keys.add(k);
            collect(v);
          }
        } else if (s instanceof z.ZodArray) collect(s.element as z.ZodType);
        else if (s instanceof z.ZodUnion) (s.options as z.ZodType[]).forEach(collect);
      };
      collect(OrgSchema);
      collect(WorkspaceSchema);
      for (const k of keys) expect(PRINTABLE_KEYS).toContain(k);
    });
  });
});

describe('defaults, flatten and spawning', () => {
  const template = () =>
    inline({
      name: 'Acme',
      defaults: { runtime: 'hermes', model: 'default-model', plugins: ['a', 'b'], env: { A: '1' }, max_concurrent_tasks: 2, files_dir: 'files/common' },
      workspaces: [
        {
          name: 'Acme CEO',
          canvas: { x: 100, y: 50 },
          children: [
            { name: 'PM', model: 'pm-model', plugins: ['c'], canvas: { x: -10, y: 20 }, children: [{ name: 'Researcher', runtime: 'codex', files_dir: 'files/r' }] },
            { name: 'Lab', spawning: false, children: [{ name: 'Intern', spawning: true, children: [{ name: 'Shadow' }] }] },
            { name: 'R&D/Ops', env: { B: '2' } },
          ],
        },
      ],
    });

  it('lists workspaces parent-first with stable keys, parent keys and depths', async () => {
    const flat = flattenTemplate(await template());
    expect(flat.map((w) => [w.key, w.parentKey, w.depth])).toEqual([
      ['Acme CEO', null, 0],
      ['Acme CEO/PM', 'Acme CEO', 1],
      ['Acme CEO/PM/Researcher', 'Acme CEO/PM', 2],
      ['Acme CEO/Lab', 'Acme CEO', 1],
      ['Acme CEO/Lab/Intern', 'Acme CEO/Lab', 2],
      ['Acme CEO/Lab/Intern/Shadow', 'Acme CEO/Lab/Intern', 3],
      ['Acme CEO/R&D%2FOps', 'Acme CEO', 1],
    ]);
    const index = new Map(flat.map((w, i) => [w.key, i]));
    for (const w of flat) if (w.parentKey) expect(index.get(w.parentKey)).toBeLessThan(index.get(w.key) ?? -1);
  });

  it('applies defaults unless the workspace sets its own value (whole-value replacement)', async () => {
    const byKey = new Map(flattenTemplate(await template()).map((w) => [w.key, w]));
    expect(byKey.get('Acme CEO')).toMatchObject({ runtime: 'hermes', model: 'default-model', plugins: ['a', 'b'], max_concurrent_tasks: 2, files_dir: 'files/common' });
    expect(byKey.get('Acme CEO/PM')).toMatchObject({ runtime: 'hermes', model: 'pm-model', plugins: ['c'] });
    expect(byKey.get('Acme CEO/PM/Researcher')).toMatchObject({ runtime: 'codex', model: 'default-model', files_dir: 'files/r' });
    expect(byKey.get('Acme CEO/R&D%2FOps')?.env).toEqual({ B: '2' });
  });

  it('keeps canvas positions parent-relative, as given', async () => {
    const byKey = new Map(flattenTemplate(await template()).map((w) => [w.key, w]));
    expect(byKey.get('Acme CEO')?.canvas).toEqual({ x: 100, y: 50 });
    expect(byKey.get('Acme CEO/PM')?.canvas).toEqual({ x: -10, y: 20 });
    expect(byKey.get('Acme CEO/PM/Researcher')?.canvas).toBeUndefined();
  });

  it('spawning: false skips the workspace and every descendant, even ones saying true, but they still count', async () => {
    const t = await template();
    const flat = flattenTemplate(t);
    const spawn = Object.fromEntries(flat.map((w) => [w.key, [w.spawning, w.spawn]]));
    expect(spawn).toEqual({
      'Acme CEO': [true, true],
      'Acme CEO/PM': [true, true],
      'Acme CEO/PM/Researcher': [true, true],
      'Acme CEO/Lab': [false, false],
      'Acme CEO/Lab/Intern': [true, false],
      'Acme CEO/Lab/Intern/Shadow': [true, false],
      'Acme CEO/R&D%2FOps': [true, true],
    });
    expect(countWorkspaces(t)).toBe(7);
    expect(flat).toHaveLength(7);
  });

  it('a default of spawning: false applies to workspaces that do not set it', async () => {
    const t = await inline({ name: 'O', defaults: { spawning: false }, workspaces: [{ name: 'A', spawning: true, children: [{ name: 'B' }] }, { name: 'C' }] });
    expect(flattenTemplate(t).map((w) => [w.key, w.spawn])).toEqual([
      ['A', true],
      ['A/B', false],
      ['C', false],
    ]);
  });

  it('keys are unique even when names contain the separator', async () => {
    const t = await inline({ name: 'O', workspaces: [{ name: 'A/B', children: [{ name: 'C' }] }, { name: 'A', children: [{ name: 'B/C' }, { name: 'B%2FC' }] }] });
    const keys = flattenTemplate(t).map((w) => w.key);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('defaults to the claude-code runtime when neither the workspace nor defaults set one', async () => {
    expect(flattenTemplate(await one({ name: 'W' }))[0].runtime).toBe('claude-code');
  });

  it('returns an empty list for an org without workspaces', async () => {
    const t: OrgTemplate = await inline({ name: 'Empty' });
    expect(flattenTemplate(t)).toEqual([]);
    expect(countWorkspaces(t)).toBe(0);
  });
});

