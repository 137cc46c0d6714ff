import { collectEnvRequirements, memoryFileSource, missingEnv, parseOrgTemplate } from '../../domain/org-template';
import { templateError } from '../fixtures/org-templates/support';

const inline = (template: unknown) => parseOrgTemplate({ inline: template });
const collect = async (template: unknown) => collectEnvRequirements(await inline(template));

describe('env requirement entries (parse time)', () => {
  it('accepts a NAME or {any_of: [NAME, ...]} in required_env and recommended_env', async () => {
    const t = await inline({
      name: 'O',
      workspaces: [{ name: 'W', required_env: ['GITHUB_TOKEN', { any_of: ['ANTHROPIC_API_KEY', 'CLAUDE_CODE_OAUTH_TOKEN'] }], recommended_env: ['SENTRY_DSN'] }],
    });
    expect(t.workspaces[0].required_env).toEqual(['GITHUB_TOKEN', { any_of: ['ANTHROPIC_API_KEY', 'CLAUDE_CODE_OAUTH_TOKEN'] }]);
  });

  it.each([['lowercase'], ['1LEADING_DIGIT'], ['HAS-DASH'], ['HAS SPACE'], ['_LEADING_UNDERSCORE'], [`A${'B'.repeat(128)}`], ['']])(
    'rejects the name %j with its path, without echoing it',
    async (name) => {
      const err = await templateError(inline({ name: 'O', workspaces: [{ name: 'W', required_env: ['OK_NAME', name] }] }), 'invalid_value');
      expect(err.path).toBe('workspaces[0].required_env[1]');
      if (name) expect(err.message).not.toContain(name);
    },
  );

  it('accepts a name of exactly 128 characters', async () => {
    const name = `A${'B'.repeat(127)}`;
    expect((await collect({ name: 'O', required_env: [name] })).required).toEqual([name]);
  });

  it('rejects an empty any_of group at parse time', async () => {
    const err = await templateError(inline({ name: 'O', workspaces: [{ name: 'W', children: [{ name: 'C', recommended_env: [{ any_of: [] }] }] }] }), 'invalid_value');
    expect(err.path).toBe('workspaces[0].children[0].recommended_env[0].any_of');
  });

  it('rejects malformed groups and entries', async () => {
    await templateError(inline({ name: 'O', required_env: [{ any_of: 'A_KEY' }] }), 'invalid_value');
    await templateError(inline({ name: 'O', required_env: [{ any_of: ['A_KEY', 'bad'] }] }), 'invalid_value');
    const wrongKey = await templateError(inline({ name: 'O', required_env: [{ anyof: ['A_KEY'] }] }), 'invalid_value');
    expect(wrongKey.message).toContain('must be an env var name or {any_of: [names]}');
    await templateError(inline({ name: 'O', required_env: [42] }), 'invalid_value');
    await templateError(inline({ name: 'O', required_env: 'A_KEY' }), 'invalid_type');
  });

  it('accepts the same forms from on-disk YAML and from inline JSON, with the same result', async () => {
    const fromYaml = await parseOrgTemplate({
      source: memoryFileSource({
        'org.yaml': [
          'name: O',
          'required_env: [GITHUB_TOKEN]',
          'workspaces:',
          '  - name: W',
          '    required_env:',
          '      - {any_of: [ANTHROPIC_API_KEY, CLAUDE_CODE_OAUTH_TOKEN]}',
          '      - any_of:',
          '          - OPENAI_API_KEY',
          '          - AZURE_OPENAI_KEY',
          '    recommended_env: [SENTRY_DSN]',
          '',
        ].join('\n'),
      }),
    });
    const fromJson = await inline(
      JSON.parse(
        JSON.stringify({
          name: 'O',
          required_env: ['GITHUB_TOKEN'],
          workspaces: [
            {
              name: 'W',
              required_env: [{ any_of: ['ANTHROPIC_API_KEY', 'CLAUDE_CODE_OAUTH_TOKEN'] }, { any_of: ['OPENAI_API_KEY', 'AZURE_OPENAI_KEY'] }],
              recommended_env: ['SENTRY_DSN'],
            },
          ],
        }),
      ),
    );
    expect(collectEnvRequirements(fromYaml)).toEqual(collectEnvRequirements(fromJson));
    expect(collectEnvRequirements(fromYaml)).toEqual({
      required: ['GITHUB_TOKEN'],
      requiredAnyOf: [
        ['ANTHROPIC_API_KEY', 'CLAUDE_CODE_OAUTH_TOKEN'],
        ['AZURE_OPENAI_KEY', 'OPENAI_API_KEY'],
      ],
      recommended: ['SENTRY_DSN'],
      recommendedAnyOf: [],
    });
  });
});

describe('collectEnvRequirements (SPEC §5 dedupe rules)', () => {
  it('collects from the org level, defaults and every workspace, spawning or not', async () => {
    const r = await collect({
      name: 'O',
      required_env: ['ORG_KEY'],
      defaults: { required_env: ['DEFAULT_KEY'] },
      workspaces: [{ name: 'A', spawning: false, children: [{ name: 'B', required_env: ['LEAF_KEY'] }] }],
    });
    expect(r.required).toEqual(['DEFAULT_KEY', 'LEAF_KEY', 'ORG_KEY']);
  });

  it('deduplicates strict names', async () => {
    const r = await collect({ name: 'O', workspaces: [{ name: 'A', required_env: ['B_KEY', 'A_KEY', 'B_KEY'] }, { name: 'B', required_env: ['A_KEY'] }] });
    expect(r.required).toEqual(['A_KEY', 'B_KEY']);
  });

  it('deduplicates groups by their sorted members (order and repeats inside a group do not matter)', async () => {
    const r = await collect({
      name: 'O',
      workspaces: [
        { name: 'A', required_env: [{ any_of: ['ANTHROPIC_API_KEY', 'CLAUDE_CODE_OAUTH_TOKEN'] }] },
        { name: 'B', required_env: [{ any_of: ['CLAUDE_CODE_OAUTH_TOKEN', 'ANTHROPIC_API_KEY', 'ANTHROPIC_API_KEY'] }] },
      ],
    });
    expect(r.requiredAnyOf).toEqual([['ANTHROPIC_API_KEY', 'CLAUDE_CODE_OAUTH_TOKEN']]);
  });

  it('keeps groups that differ by any member', async () => {
    const r = await collect({ name: 'O', required_env: [{ any_of: ['A_KEY', 'B_KEY'] }, { any_of: ['A_KEY', 'B_KEY', 'C_KEY'] }] });
    expect(r.requiredAnyOf).toEqual([
      ['A_KEY', 'B_KEY'],
      ['A_KEY', 'B_KEY', 'C_KEY'],
    ]);
  });

  it('drops a group that mentions a strictly required name in the same workspace', async () => {
    const r = await collect({ name: 'O', workspaces: [{ name: 'A', required_env: ['ANTHROPIC_API_KEY', { any_of: ['ANTHROPIC_API_KEY', 'CLAUDE_CODE_OAUTH_TOKEN'] }] }] });
    expect(r).toMatchObject({ required: ['ANTHROPIC_API_KEY'], requiredAnyOf: [] });
  });

  it('drops the group across tiers: the strict name is required by a workspace elsewhere in the tree', async () => {
    const r = await collect({
      name: 'O',
      workspaces: [
        {
          name: 'CEO',
          tier: 0,
          required_env: [{ any_of: ['ANTHROPIC_API_KEY', 'CLAUDE_CODE_OAUTH_TOKEN'] }],
          children: [{ name: 'Dev', tier: 2, required_env: ['CLAUDE_CODE_OAUTH_TOKEN'] }],
        },
      ],
    });
    expect(r).toMatchObject({ required: ['CLAUDE_CODE_OAUTH_TOKEN'], requiredAnyOf: [] });
  });

  it('drops the group when the strict name is required at org level or in defaults', async () => {
    const group = { any_of: ['ANTHROPIC_API_KEY', 'CLAUDE_CODE_OAUTH_TOKEN'] };
    expect((await collect({ name: 'O', required_env: ['ANTHROPIC_API_KEY'], workspaces: [{ name: 'W', required_env: [group] }] })).requiredAnyOf).toEqual([]);
    expect((await collect({ name: 'O', defaults: { required_env: ['ANTHROPIC_API_KEY'] }, workspaces: [{ name: 'W', required_env: [group] }] })).requiredAnyOf).toEqual([]);
  });

  it('keeps a group whose members are only recommended strictly (a recommendation does not satisfy a requirement)', async () => {
    const r = await collect({ name: 'O', recommended_env: ['A_KEY'], required_env: [{ any_of: ['A_KEY', 'B_KEY'] }] });
    expect(r.requiredAnyOf).toEqual([['A_KEY', 'B_KEY']]);
  });

  it('drops from recommended what is already required (names, groups, groups mentioning a required name)', async () => {
    const r = await collect({
      name: 'O',
      required_env: ['A_KEY', { any_of: ['X_KEY', 'Y_KEY'] }],
      recommended_env: ['A_KEY', 'R_KEY', { any_of: ['Y_KEY', 'X_KEY'] }, { any_of: ['A_KEY', 'Z_KEY'] }, { any_of: ['M_KEY', 'N_KEY'] }],
    });
    expect(r).toEqual({ required: ['A_KEY'], requiredAnyOf: [['X_KEY', 'Y_KEY']], recommended: ['R_KEY'], recommendedAnyOf: [['M_KEY', 'N_KEY']] });
  });

  it('drops a recommended group that mentions a recommended strict name', async () => {
    const r = await collect({ name: 'O', workspaces: [{ name: 'A', recommended_env: ['SENTRY_DSN'] }, { name: 'B', recommended_env: [{ any_of: ['SENTRY_DSN', 'ROLLBAR_TOKEN'] }] }] });
    expect(r).toMatchObject({ recommended: ['SENTRY_DSN'], recommendedAnyOf: [] });
  });
});

describe('missingEnv', () => {
  const requirements = { required: ['GITHUB_TOKEN', 'SLACK_TOKEN'], requiredAnyOf: [['ANTHROPIC_API_KEY', 'CLAUDE_CODE_OAUTH_TOKEN'], ['B_KEY', 'A_KEY']] };

  it('satisfies a strict entry only by its exact name', () => {
    expect(missingEnv({ required: ['GITHUB_TOKEN'], requiredAnyOf: [] }, new Set(['GITHUB_TOKEN_2', 'github_token', 'GITHUB']))).toEqual(['GITHUB_TOKEN']);
    expect(missingEnv({ required: ['GITHUB_TOKEN'], requiredAnyOf: [] }, new Set(['GITHUB_TOKEN']))).toEqual([]);
  });

  it('satisfies a group by any one member', () => {
    expect(missingEnv(requirements, new Set(['GITHUB_TOKEN', 'SLACK_TOKEN', 'CLAUDE_CODE_OAUTH_TOKEN', 'A_KEY']))).toEqual([]);
  });

  it('lists missing names sorted (code-unit order), rendering a group as A|B', () => {
    expect(missingEnv(requirements, new Set(['SLACK_TOKEN']))).toEqual(['ANTHROPIC_API_KEY|CLAUDE_CODE_OAUTH_TOKEN', 'A_KEY|B_KEY', 'GITHUB_TOKEN']);
  });

  it('ignores recommendations', async () => {
    const r = await collect({ name: 'O', recommended_env: ['SENTRY_DSN'], required_env: ['GITHUB_TOKEN'] });
    expect(missingEnv(r, new Set())).toEqual(['GITHUB_TOKEN']);
  });

  it('returns names only, even when the caller knows values', async () => {
    const r = await collect({ name: 'O', required_env: ['GITHUB_TOKEN', { any_of: ['A_KEY', 'B_KEY'] }] });
    const secrets = { SOME_KEY: 'sk-live-VALUE' };
    const out = missingEnv(r, new Set(Object.keys(secrets)));
    expect(out).toEqual(['A_KEY|B_KEY', 'GITHUB_TOKEN']);
    expect(out.join()).not.toContain('sk-live');
  });
});
