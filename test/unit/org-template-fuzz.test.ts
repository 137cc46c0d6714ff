// Random mutations of valid templates: every outcome must be a valid OrgTemplate or a TemplateError
// (never another exception type), and no error may carry template content in its message or path.
import {
  TEMPLATE_ERROR_CODES,
  TemplateError,
  collectEnvRequirements,
  countWorkspaces,
  flattenTemplate,
  memoryFileSource,
  missingEnv,
  parseOrgTemplate,
} from '../../domain/org-template';
import { seededRandom, type Rng } from '../support/seeded-random';

const MARKER = 'ZQXMARK';

const pick = <T>(r: Rng, items: readonly T[]): T => items[Math.floor(r() * items.length)];

const FIELD_NAMES = ['name', 'role', 'tier', 'runtime', 'model', 'files_dir', 'workspace_dir', 'plugins', 'required_env', 'recommended_env', 'any_of', 'spawning', 'max_concurrent_tasks', 'canvas', 'x', 'y', 'schedules', 'cron', 'prompt', 'enabled', 'prompts', 'env', 'compute', 'children', 'workspaces', 'defaults', '!include', '!external', '__proto__', 'constructor', MARKER];

function randomValue(r: Rng, depth = 0): unknown {
  const choice = Math.floor(r() * (depth > 2 ? 9 : 13));
  switch (choice) {
    case 0: return `${MARKER}${'x'.repeat(Math.floor(r() * 300))}`;
    case 1: return pick(r, [`../../${MARKER}/etc/passwd`, `/${MARKER}`, `${MARKER}\u0000`, `\${${MARKER}}`, `line\n${MARKER}`, `\u001b[31m${MARKER}`, `<script>${MARKER}</script>`, '', ' ', `${MARKER}_KEY`, 'VALID_NAME']);
    case 2: return pick(r, [0, -1, 1, 2.5, 10, 11, 100, 1e6, 1e300, -1e300, Number.NaN, Number.POSITIVE_INFINITY, Number.MAX_SAFE_INTEGER]);
    case 3: return r() < 0.5;
    case 4: return null;
    case 5: return pick(r, ['claude-code', 'hermes', 'external', 'docker', 'ec2', '0 9 * * 1-5', '@daily']);
    case 6: return { any_of: pick(r, [[], [`${MARKER}`], ['A_KEY', 'B_KEY'], [1]]) };
    case 7: return { '!include': `${MARKER}.yaml` };
    case 8: return { '!external': { repo: `https://${MARKER}.example/x`, ref: `${MARKER}..`, path: '../x' } };
    case 9: return Array.from({ length: Math.floor(r() * 4) }, () => randomValue(r, depth + 1));
    case 10: return Object.fromEntries(Array.from({ length: Math.floor(r() * 4) }, () => [pick(r, FIELD_NAMES), randomValue(r, depth + 1)]));
    case 11: return { name: `${MARKER} child`, children: [randomValue(r, depth + 1)] };
    default: {
      let deep: unknown = MARKER;
      for (let i = 0; i < 40 + Math.floor(r() * 200); i++) deep = [deep];
      return deep;
    }
  }
}

type Container = Record<string, unknown> | unknown[];
function containers(value: unknown, out: Container[] = []): Container[] {
  if (Array.isArray(value)) {
    out.push(value);
    value.forEach((v) => containers(v, out));
  } else if (value !== null && typeof value === 'object') {
    out.push(value as Record<string, unknown>);
    Object.values(value).forEach((v) => containers(v, out));
  }
  return out;
}

function mutateObject(base: unknown, r: Rng): unknown {
  const copy: unknown = structuredClone(base);
  const ops = 1 + Math.floor(r() * 3);
  for (let i = 0; i < ops; i++) {
    const target = pick(r, containers(copy));
    if (Array.isArray(target)) {
      const op = Math.floor(r() * 3);
      if (op === 0 || target.length === 0) target.push(randomValue(r));
      else if (op === 1) target.splice(Math.floor(r() * target.length), 1);
      else target[Math.floor(r() * target.length)] = r() < 0.5 ? randomValue(r) : structuredClone(target[0]);
    } else {
      const keys = Object.keys(target);
      const op = Math.floor(r() * 3);
      if (op === 0 && keys.length > 0) delete target[pick(r, keys)];
      else if (op === 1 && keys.length > 0) target[pick(r, keys)] = randomValue(r);
      else target[pick(r, FIELD_NAMES)] = randomValue(r);
    }
  }
  return copy;
}

const TOKENS = [': ', '- ', '[', ']', '{', '}', ',', '&a ', '*a', '!include ', '!external ', '!include ../../etc/passwd', `!include ${MARKER}.yaml`, '"', "'", '\n', '  ', '\t', '#', MARKER, `${MARKER}: 1`, '\u0000', '..', '/', '!!str ', '!!binary ', '%YAML 1.1\n', '---\n', '? ', '|', '>', '<<: *a', '.inf', '~', '0x1F', '1e400', 'null', 'true', '\uFEFF'];

function mutateText(text: string, r: Rng): string {
  let out = text;
  const ops = 1 + Math.floor(r() * 3);
  for (let i = 0; i < ops; i++) {
    const at = Math.floor(r() * (out.length + 1));
    const op = Math.floor(r() * 4);
    if (op === 0) out = out.slice(0, at) + pick(r, TOKENS) + out.slice(at);
    else if (op === 1) out = out.slice(0, at) + out.slice(at + 1 + Math.floor(r() * 20));
    else if (op === 2) {
      const lines = out.split('\n');
      const l = Math.floor(r() * lines.length);
      lines.splice(l, 0, lines[Math.floor(r() * lines.length)]);
      out = lines.join('\n');
    } else {
      const lines = out.split('\n');
      const l = Math.floor(r() * lines.length);
      lines[l] = (r() < 0.5 ? '  ' : '') + lines[l].replace(/^ {2}/, r() < 0.5 ? '' : '    ');
      out = lines.join('\n');
    }
  }
  return out;
}

const BASE_INLINE = {
  name: 'Acme',
  description: 'Fuzz base',
  defaults: { runtime: 'claude-code', model: 'anthropic/claude-sonnet-4', plugins: ['github'], max_concurrent_tasks: 2 },
  required_env: ['GITHUB_TOKEN'],
  workspaces: [
    {
      name: 'Acme CEO',
      tier: 0,
      canvas: { x: 0, y: 0 },
      required_env: [{ any_of: ['ANTHROPIC_API_KEY', 'CLAUDE_CODE_OAUTH_TOKEN'] }],
      children: [
        { name: 'PM', tier: 1, files_dir: 'files/pm', schedules: [{ cron: '0 9 * * 1-5', prompt: 'Plan the day.' }], children: [{ name: 'Researcher', runtime: 'hermes', recommended_env: ['SERPAPI_KEY'] }] },
        { name: 'Lab', spawning: false, env: { LOG_LEVEL: 'debug' }, workspace_dir: '${HOME}/lab', children: [{ name: 'Intern', compute: 'docker', prompts: ['Hello'] }] },
      ],
    },
  ],
};

const BASE_FILES: Record<string, string> = {
  'org.yaml': [
    'name: Acme',
    'description: Fuzz base',
    'defaults:',
    '  runtime: claude-code',
    '  plugins: [github]',
    'required_env: [GITHUB_TOKEN]',
    'workspaces:',
    '  - name: Acme CEO',
    '    tier: 0',
    '    canvas: {x: 0, y: 0}',
    '    required_env:',
    '      - any_of: [ANTHROPIC_API_KEY, CLAUDE_CODE_OAUTH_TOKEN]',
    '    children: [!include teams/pm.yaml, !include teams/lab.yaml]',
    '',
  ].join('\n'),
  'teams/pm.yaml': 'name: PM\ntier: 1\nfiles_dir: files/pm\nschedules:\n  - cron: "0 9 * * 1-5"\n    prompt: Plan the day.\nchildren:\n  - !include research.yaml\n',
  'teams/lab.yaml': 'name: Lab\nspawning: false\nenv: {LOG_LEVEL: debug}\nworkspace_dir: ${HOME}/lab\nchildren:\n  - {name: Intern, compute: docker, prompts: [Hello]}\n',
  'teams/research.yaml': 'name: Researcher\nruntime: hermes\nrecommended_env: [SERPAPI_KEY]\nanchors: &a {tier: 2}\n',
};

const ENV = { HOME: '/home/agent' };

/** Returns a description of what went wrong, or null when the outcome is acceptable. */
async function judge(run: () => Promise<unknown>): Promise<string | null> {
  try {
    const t = await run();
    const template = t as Awaited<ReturnType<typeof parseOrgTemplate>>;
    // A valid outcome must be usable by every helper.
    const flat = flattenTemplate(template);
    if (flat.length !== countWorkspaces(template)) return 'flatten/count mismatch';
    missingEnv(collectEnvRequirements(template), new Set());
    return null;
  } catch (err) {
    if (!(err instanceof TemplateError)) return `non-TemplateError: ${String(err)}`;
    if (!(TEMPLATE_ERROR_CODES as readonly string[]).includes(err.code)) return `unknown code ${err.code}`;
    if (err.message.includes(MARKER) || err.path.includes(MARKER)) return `marker leaked: ${err.code}`;
    if (err.message.length > 300) return 'overlong message';
    return null;
  }
}

describe('org template fuzzing', () => {
  it('the unmutated bases parse', async () => {
    expect(countWorkspaces(await parseOrgTemplate({ inline: BASE_INLINE, env: ENV }))).toBe(5);
    expect(countWorkspaces(await parseOrgTemplate({ source: memoryFileSource(BASE_FILES), env: ENV }))).toBe(5);
  });

  it('500 random mutations of an inline template yield an OrgTemplate or a TemplateError', async () => {
    const r = seededRandom(0x5eed);
    const failures: string[] = [];
    const outcomes = new Set<string>();
    for (let i = 0; i < 500; i++) {
      const inline = mutateObject(BASE_INLINE, r);
      const verdict = await judge(async () => {
        try {
          const t = await parseOrgTemplate({ inline, env: ENV });
          outcomes.add('ok');
          return t;
        } catch (err) {
          outcomes.add(err instanceof TemplateError ? err.code : 'other');
          throw err;
        }
      });
      if (verdict) failures.push(`#${i}: ${verdict}`);
    }
    expect(failures).toEqual([]);
    // The mutations must actually exercise both outcomes and a spread of error codes.
    expect(outcomes.has('ok')).toBe(true);
    expect(outcomes.size).toBeGreaterThan(5);
  });

  it('500 random mutations of YAML template files yield an OrgTemplate or a TemplateError', async () => {
    const r = seededRandom(0xbeef);
    const failures: string[] = [];
    const outcomes = new Set<string>();
    for (let i = 0; i < 500; i++) {
      const files = { ...BASE_FILES };
      const file = pick(r, Object.keys(files));
      files[file] = mutateText(files[file], r);
      const verdict = await judge(async () => {
        try {
          const t = await parseOrgTemplate({ source: memoryFileSource(files), env: ENV });
          outcomes.add('ok');
          return t;
        } catch (err) {
          outcomes.add(err instanceof TemplateError ? err.code : 'other');
          throw err;
        }
      });
      if (verdict) failures.push(`#${i} (${file}): ${verdict}`);
    }
    expect(failures).toEqual([]);
    expect(outcomes.has('ok')).toBe(true);
    expect(outcomes.size).toBeGreaterThan(3);
  });
});

describe('error messages never echo template content', () => {
  const weird = [MARKER, `${MARKER}${'A'.repeat(5000)}`, `\u001b[31m${MARKER}`, `<img src=x onerror=alert('${MARKER}')>`, `${MARKER}\n\r\u2028`];

  const cases: [string, (m: string) => unknown][] = [
    ['overlong workspace name', (m) => ({ name: 'O', workspaces: [{ name: m.padEnd(300, 'x') }] })],
    ['name with control characters', (m) => ({ name: `${m}\u0000` })],
    // `x` makes even the plain marker an invalid env name.
    ['env name in required_env', (m) => ({ name: 'O', required_env: [`x${m}`] })],
    ['env name in any_of', (m) => ({ name: 'O', required_env: [{ any_of: [`x${m}`] }] })],
    ['env record key', (m) => ({ name: 'O', workspaces: [{ name: 'W', env: { [`x${m}`]: 'v' } }] })],
    ['env record value of the wrong type', (m) => ({ name: 'O', workspaces: [{ name: 'W', env: { [m]: 1 } }] })],
    ['compute', (m) => ({ name: 'O', workspaces: [{ name: 'W', compute: m }] })],
    ['cron', (m) => ({ name: 'O', workspaces: [{ name: 'W', schedules: [{ cron: m, prompt: 'p' }] }] })],
    ['files_dir escape', (m) => ({ name: 'O', workspaces: [{ name: 'W', files_dir: `../${m}` }] })],
    ['workspace_dir variable', (m) => ({ name: 'O', workspaces: [{ name: 'W', workspace_dir: `\${${m}}` }] })],
    ['plugin', (m) => ({ name: 'O', workspaces: [{ name: 'W', plugins: [`${m} x`] }] })],
    ['inline include', (m) => ({ name: 'O', workspaces: [{ '!include': m }] })],
    ['external repo', (m) => ({ name: 'O', workspaces: [{ '!external': { repo: `https://${m}.example/x`, ref: 'main', path: 'x' } }] })],
    ['external ref', (m) => ({ name: 'O', workspaces: [{ '!external': { repo: 'https://github.com/a/b', ref: m, path: 'x' } }] })],
    ['duplicate names', (m) => ({ name: 'O', workspaces: [{ name: m.slice(0, 100) }, { name: m.slice(0, 100) }] })],
    ['wrong type under an unknown key path', (m) => ({ name: 'O', [m]: { nested: true }, workspaces: [{ name: 'W', tier: m }] })],
  ];

  it.each(cases)('%s', async (_, build) => {
    for (const m of weird) {
      let caught: unknown;
      try {
        await parseOrgTemplate({ inline: build(m) });
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(TemplateError);
      const err = caught as TemplateError;
      expect(err.message).not.toContain(MARKER);
      expect(err.path).not.toContain(MARKER);
      expect(err.message.length).toBeLessThan(200);
    }
  });

  it('YAML-side injection points: include targets, syntax errors, tags', async () => {
    for (const text of [
      `name: O\nworkspaces: [!include ${MARKER}.yaml]\n`,
      `name: O\nworkspaces: [!include ../${MARKER}]\n`,
      `name: O\nworkspaces: [{name: "${MARKER}\n`,
      `name: O\nworkspaces: [!${MARKER} x]\n`,
      `name: O\n${MARKER}: *${MARKER}\n`,
      `name: O\nworkspaces: [!external {repo: "https://${MARKER}.example/a", ref: main, path: x}]\n`,
    ]) {
      let caught: unknown;
      try {
        await parseOrgTemplate({ source: memoryFileSource({ 'org.yaml': text }) });
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(TemplateError);
      expect((caught as TemplateError).message).not.toContain(MARKER);
      expect((caught as TemplateError).path).not.toContain(MARKER);
    }
  });
});
