// `${VAR}` in on-disk templates reads only an explicit allowlist (config/template-vars.ts).
import { CONFIG_KEYS, loadConfig } from '../../config';
import { isListableTemplateVar, templateVariables } from '../../config/template-vars';
import { memoryFileSource, parseOrgTemplate, TemplateError } from '../../domain/org-template';
import { seededRandom } from '../support/seeded-random';

const PLATFORM_ENV = {
  SECRETS_KEY: 'a'.repeat(64),
  ADMIN_TOKEN: 'admin-token-value',
  TEMPLATE_GIT_TOKEN: 'ghp_template_git_token',
  DATABASE_URL: 'postgres://u:pw@db/x',
  AWS_SECRET_ACCESS_KEY: 'aws-secret',
  AWS_REGION: 'eu-west-1',
  PGPASSWORD: 'pg-secret',
  HOME: '/home/agent',
  TEMPLATE_VAR_ROOT: '/srv/agents',
  TEMPLATE_VAR_TEAM: 'red',
  TEAM_ROOT: '/srv/teams',
};

async function workspaceDir(workspace_dir: string, env: NodeJS.ProcessEnv = PLATFORM_ENV): Promise<string | TemplateError> {
  const { templateVars } = loadConfig(env);
  const source = memoryFileSource({ 'org.yaml': `name: O\nworkspaces:\n  - name: W\n    workspace_dir: "${workspace_dir}"\n` });
  try {
    const t = await parseOrgTemplate({ source, env: templateVars });
    return t.workspaces[0].workspace_dir ?? '';
  } catch (err) {
    if (err instanceof TemplateError) return err;
    throw err;
  }
}

describe('template variables', () => {
  it('TEMPLATE_VAR_* expand; the rest of the environment does not', async () => {
    expect(await workspaceDir('${TEMPLATE_VAR_ROOT}/${TEMPLATE_VAR_TEAM}')).toBe('/srv/agents/red');
    expect(loadConfig(PLATFORM_ENV).templateVars).toEqual({ TEMPLATE_VAR_ROOT: '/srv/agents', TEMPLATE_VAR_TEAM: 'red' });
  });

  it('TEMPLATE_VARS adds named variables', async () => {
    const env = { ...PLATFORM_ENV, TEMPLATE_VARS: 'TEAM_ROOT, HOME,NOT_SET_ANYWHERE' };
    expect(await workspaceDir('${TEAM_ROOT}/${TEMPLATE_VAR_TEAM}', env)).toBe('/srv/teams/red');
    expect(await workspaceDir('${HOME}/x', env)).toBe('/home/agent/x');
    expect(loadConfig(env).templateVars).not.toHaveProperty('NOT_SET_ANYWHERE');
  });

  it('platform configuration and credentials never expand, and fail exactly like an unset variable', async () => {
    const unset = await workspaceDir('${TEMPLATE_VAR_NOT_SET}/w');
    expect(unset).toBeInstanceOf(TemplateError);
    for (const name of ['SECRETS_KEY', 'ADMIN_TOKEN', 'TEMPLATE_GIT_TOKEN', 'DATABASE_URL', 'AWS_SECRET_ACCESS_KEY', 'AWS_REGION', 'PGPASSWORD', 'HOME', 'TEAM_ROOT']) {
      const err = await workspaceDir(`\${${name}}/w`);
      expect(err).toBeInstanceOf(TemplateError);
      const { code, message, path, file } = err as TemplateError;
      expect({ code, message, path, file }).toEqual({ code: (unset as TemplateError).code, message: (unset as TemplateError).message, path: (unset as TemplateError).path, file: (unset as TemplateError).file });
      expect(message).not.toContain(name);
    }
    expect((unset as TemplateError).code).toBe('unset_variable');
  });

  it('loadConfig refuses a TEMPLATE_VARS that lists configuration or a credential', () => {
    for (const name of ['SECRETS_KEY', 'ADMIN_TOKEN', 'TEMPLATE_GIT_TOKEN', 'DATABASE_URL', 'AWS_SECRET_ACCESS_KEY', 'AWS_REGION', 'PGPASSWORD', 'MY_API_KEY', 'GITHUB_TOKEN', 'DB_PASSWORD', 'TEMPLATE_VARS', 'WORKSPACE_IMAGE_HERMES', 'CONTAINER_MEMORY_MB_HERMES']) {
      expect(() => loadConfig({ ...PLATFORM_ENV, TEMPLATE_VARS: `TEAM_ROOT,${name}` })).toThrow(/^invalid configuration: TEMPLATE_VARS: /);
    }
  });

  it('every name config/index.ts reads is unlistable, and templateVariables drops them even when listed', () => {
    for (const key of CONFIG_KEYS) expect(isListableTemplateVar(key, CONFIG_KEYS)).toBe(false);
    const env = Object.fromEntries(CONFIG_KEYS.map((k) => [k, `value-of-${k}`]));
    expect(templateVariables({ ...env, TEMPLATE_VAR_A: 'a' }, CONFIG_KEYS, CONFIG_KEYS)).toEqual({ TEMPLATE_VAR_A: 'a' });
    // The bare prefix is not a variable name of its own.
    expect(templateVariables({ TEMPLATE_VAR_: 'x' }, [], CONFIG_KEYS)).toEqual({});
  });

  it('fuzz: 400 seeded references expand only allowlisted values and otherwise fail identically', async () => {
    const rng = seededRandom(0x7e3a_14);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rng() * xs.length)];
    const env = { ...PLATFORM_ENV, TEMPLATE_VARS: 'TEAM_ROOT' };
    const allowed = loadConfig(env).templateVars;
    const secrets = ['a'.repeat(64), 'admin-token-value', 'ghp_template_git_token', 'postgres://u:pw@db/x', 'aws-secret', 'pg-secret', '/home/agent'];
    const names = [...Object.keys(PLATFORM_ENV), ...CONFIG_KEYS, 'TEMPLATE_VARS', 'TEMPLATE_VAR_', 'PATH', 'NODE_OPTIONS', '__proto__', 'constructor', 'hasOwnProperty', 'toString'];
    const randomName = () => {
      const chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789';
      let out = pick(['', 'TEMPLATE_VAR_', 'AWS_', 'SECRET_', 'TEMPLATE_']);
      for (let i = 0, n = 1 + Math.floor(rng() * 12); i < n; i++) out += pick([...chars]);
      return /^[0-9]/.test(out) ? `X${out}` : out;
    };
    const unset = (await workspaceDir('/w/${TEMPLATE_VAR_NEVER_SET_ANYWHERE}', env)) as TemplateError;
    const failures: string[] = [];
    for (let i = 0; i < 400; i++) {
      const refs = Array.from({ length: 1 + Math.floor(rng() * 3) }, () => (rng() < 0.5 ? pick(names) : randomName()));
      const text = `/w/${refs.map((n) => `\${${n}}`).join('/')}`;
      const result = await workspaceDir(text, env);
      const expandable = refs.every((n) => Object.hasOwn(allowed, n));
      if (typeof result === 'string') {
        if (!expandable) failures.push(`#${i} expanded a name outside the allowlist: ${refs.join(',')}`);
        else if (result !== `/w/${refs.map((n) => allowed[n]).join('/')}`) failures.push(`#${i} wrong expansion`);
        if (secrets.some((v) => result.includes(v))) failures.push(`#${i} leaked a secret value`);
      } else if (expandable) {
        failures.push(`#${i} refused allowlisted names: ${refs.join(',')}`);
      } else if (result.code !== unset.code || result.message !== unset.message || result.path !== unset.path) {
        failures.push(`#${i} answered differently from an unset variable: ${result.code}`);
      }
    }
    expect(failures).toEqual([]);
  });
});
