// docker-compose.yml cannot run here (no engine, nothing can be pulled), so it is kept honest instead:
// valid for docker-compose 1.29, the same programs as the dev stack (scripts/dev.sh), only variables
// config/index.ts reads, and the wiring the adapters rely on (engine socket, workspace network).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { CONFIG_KEYS } from '../../config';
import { SEARCH_ATTRIBUTE_NAMES } from '../../domain/vocabulary';

const ROOT = join(__dirname, '..', '..');
const COMPOSE = join(ROOT, 'docker-compose.yml');
const DOCKER_COMPOSE = '/usr/bin/docker-compose';

interface Service {
  image?: string;
  build?: { context?: string; dockerfile?: string } | string;
  command?: string[] | string;
  entrypoint?: string[] | string;
  user?: string;
  environment?: Record<string, string | null>;
  volumes?: Array<string | { source?: string; target?: string; type?: string }>;
  ports?: Array<string | { published?: number | string; target?: number | string }>;
  networks?: Record<string, unknown> | string[];
}
interface ComposeDoc {
  services: Record<string, Service>;
  networks?: Record<string, { name?: string } | null>;
}

/** Runs docker-compose with only the variables given (no .env of the developer's, no inherited secrets). */
function compose(args: string[], vars: Record<string, string>): { status: number; stdout: string; stderr: string } {
  if (!existsSync(DOCKER_COMPOSE)) {
    throw new Error(`${DOCKER_COMPOSE} is missing: install Debian's docker-compose (npm run setup does) — this test never skips`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'compose-test-'));
  try {
    const envFile = join(dir, 'empty.env');
    writeFileSync(envFile, '');
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: dir, ...vars };
    try {
      const stdout = execFileSync(DOCKER_COMPOSE, ['--env-file', envFile, '-f', COMPOSE, ...args], { cwd: dir, env, stdio: 'pipe' }).toString();
      return { status: 0, stdout, stderr: '' };
    } catch (err) {
      const e = err as { status?: number; stdout?: Buffer; stderr?: Buffer };
      return { status: e.status ?? 1, stdout: e.stdout?.toString() ?? '', stderr: e.stderr?.toString() ?? '' };
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The keys of `const schema = z.object({ ... })` in config/index.ts, read from the file's text. */
function schemaKeysFromText(): string[] {
  const text = readFileSync(join(ROOT, 'config', 'index.ts'), 'utf8');
  const start = text.indexOf('z.object({', text.indexOf('const schema'));
  expect(start).toBeGreaterThan(0);
  let depth = 0;
  let end = start + 'z.object('.length;
  for (; end < text.length; end++) {
    if (text[end] === '{' || text[end] === '(') depth++;
    if (text[end] === '}' || text[end] === ')') depth--;
    if (depth === 0) break;
  }
  const body = text.slice(start, end).replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
  return [...body.matchAll(/^\s*([A-Z][A-Z0-9_]*)\s*:/gm)].map((m) => m[1]);
}

const SECRETS = { ADMIN_TOKEN: 'test-admin', SECRETS_KEY: 'test-key' };

/** Ports as compose 1.29 prints them: `{published, target}` objects, or `ip:published:target/proto` strings. */
function publishedPorts(service: Service): Array<{ hostIp: string; published: number; target: number }> {
  return (service.ports ?? []).map((p) => {
    if (typeof p !== 'string') return { hostIp: '0.0.0.0', published: Number(p.published), target: Number(p.target) };
    const parts = p.replace(/\/\w+$/, '').split(':');
    const [hostIp, published, target] = parts.length === 3 ? parts : ['0.0.0.0', ...parts];
    return { hostIp, published: Number(published), target: Number(target) };
  });
}

describe('docker-compose.yml', () => {
  let resolved: ComposeDoc;
  const raw = parse(readFileSync(COMPOSE, 'utf8'), { merge: true }) as ComposeDoc;

  beforeAll(() => {
    const out = compose(['config'], SECRETS);
    if (out.status !== 0) throw new Error(`docker-compose config failed:\n${out.stderr}`);
    resolved = parse(out.stdout) as ComposeDoc;
  });

  it('is valid for docker-compose 1.29 (config -q)', () => {
    const out = compose(['config', '-q'], SECRETS);
    expect(out.stderr).toBe('');
    expect(out.status).toBe(0);
  });

  it('refuses to start without the secrets instead of defaulting them', () => {
    expect(compose(['config', '-q'], { SECRETS_KEY: 'k' })).toMatchObject({ status: 1, stderr: expect.stringContaining('ADMIN_TOKEN') });
    expect(compose(['config', '-q'], { ADMIN_TOKEN: 't' })).toMatchObject({ status: 1, stderr: expect.stringContaining('SECRETS_KEY') });
  });

  it('names every service of the dev stack', () => {
    expect(Object.keys(resolved.services)).toEqual(expect.arrayContaining(['postgres', 'temporal', 'temporal-ui', 'api', 'worker']));
    expect(resolved.services.postgres.image).toBe('postgres:15');
    expect(resolved.services.temporal.image).toMatch(/^temporalio\/auto-setup:/);
    expect(resolved.services.temporal.environment?.DB).toMatch(/^postgres/);
    expect(resolved.services['temporal-ui'].image).toMatch(/^temporalio\/ui:/);
    expect(publishedPorts(resolved.services['temporal-ui'])).toContainEqual({ hostIp: '127.0.0.1', published: 8233, target: 8080 });
  });

  it('publishes Temporal (frontend, UI) on loopback only and Postgres not at all', () => {
    // Temporal has no auth of its own: anyone reaching it could start a delete or fake a registration.
    for (const service of ['temporal', 'temporal-ui']) {
      const ports = publishedPorts(resolved.services[service]);
      expect(ports.length).toBeGreaterThan(0);
      for (const port of ports) expect(port.hostIp).toBe('127.0.0.1');
    }
    expect(publishedPorts(resolved.services.postgres)).toEqual([]);
  });

  it('Postgres requires a password (never trust), passed through env with a dev default', () => {
    const pg = resolved.services.postgres.environment ?? {};
    expect(pg.POSTGRES_PASSWORD).toBe('molecule');
    expect(pg.POSTGRES_HOST_AUTH_METHOD).toBe('scram-sha-256');
    expect(String(pg.POSTGRES_INITDB_ARGS)).toContain('--auth-local=scram-sha-256');
    expect(String(pg.POSTGRES_INITDB_ARGS)).toContain('--auth-host=scram-sha-256');
    expect(JSON.stringify(resolved)).not.toMatch(/trust/i);
    // POSTGRES_PASSWORD from the environment reaches the server, Temporal and both app services.
    const custom = compose(['config'], { ...SECRETS, POSTGRES_PASSWORD: 'pw-from-env' });
    expect(custom.status).toBe(0);
    const doc = parse(custom.stdout) as ComposeDoc;
    expect(doc.services.postgres.environment?.POSTGRES_PASSWORD).toBe('pw-from-env');
    expect(doc.services.temporal.environment?.POSTGRES_PWD).toBe('pw-from-env');
    for (const service of ['api', 'worker']) {
      expect(new URL(String(doc.services[service].environment?.DATABASE_URL)).password).toBe('pw-from-env');
    }
  });

  it('api and worker run the compiled form of the dev stack entry points, built from the Dockerfile', () => {
    const dev = readFileSync(join(ROOT, 'scripts', 'dev.sh'), 'utf8');
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    for (const [service, entry] of [['api', 'api/main.ts'], ['worker', 'worker/main.ts']] as const) {
      const compiled = `dist/${entry.replace(/\.ts$/, '.js')}`;
      expect(resolved.services[service].command).toEqual(['node', compiled]);
      expect(pkg.scripts[`start:${service}`]).toBe(`node ${compiled}`);
      // The same program dev.sh runs from source under tsx.
      expect(dev).toMatch(new RegExp(`\\btsx ${entry.replace('.', '\\.')}\\b`));
      expect(existsSync(join(ROOT, entry))).toBe(true);
      expect(resolved.services[service].build).toMatchObject({ context: expect.any(String) });
    }
  });

  it('the Dockerfile: a build stage running npm run build, a Node 22 runtime with git, non-root, a healthcheck', () => {
    const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8').replace(/^\s*#.*$/gm, '');
    expect(dockerfile).toMatch(/^ARG NODE_IMAGE=node:22-bookworm-slim$/m);
    const stages = dockerfile.split(/^FROM /m).slice(1);
    expect(stages.map((s) => s.split('\n')[0].trim())).toEqual(['${NODE_IMAGE} AS build', '${NODE_IMAGE} AS runtime']);
    const [build, runtime] = stages;
    expect(build).toMatch(/^RUN npm ci --no-audit/m);
    expect(build).toMatch(/^RUN npm run build$/m);
    expect(build).not.toMatch(/--omit=dev/);
    expect(runtime).toMatch(/^RUN npm ci --omit=dev\b/m);
    expect(runtime).toMatch(/apt-get install[^\n]*\bgit\b[^\n]*\bca-certificates\b/);
    expect(runtime).toMatch(/^COPY --from=build \/app\/dist \.\/dist$/m);
    expect(runtime).toMatch(/^USER node$/m);
    expect(runtime).toMatch(/^HEALTHCHECK .*CMD \["node", "dist\/scripts\/healthcheck\.js"\]$/m);
    expect(runtime).toMatch(/^CMD \["node", "dist\/api\/main\.js"\]$/m);
    expect(runtime).not.toMatch(/\btsx\b/);
    // What the runtime stage runs exists in the build: the health check's source and the build script.
    expect(existsSync(join(ROOT, 'scripts', 'healthcheck.ts'))).toBe(true);
    expect(existsSync(join(ROOT, 'scripts', 'build.ts'))).toBe(true);
    // The build context keeps what the build needs, and none of the local state.
    const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim());
    for (const needed of ['scripts', 'tsconfig.json', 'tsconfig.build.json', 'org-templates', 'db']) expect(ignored).not.toContain(needed);
    for (const kept of ['node_modules', 'dist', '.data', '.env']) expect(ignored).toContain(kept);
  });

  it('api and worker set only variables config/index.ts reads', () => {
    const keys = schemaKeysFromText();
    expect([...keys].sort()).toEqual([...CONFIG_KEYS].sort()); // the text parser reads the real schema
    for (const service of ['api', 'worker']) {
      const env = Object.keys(resolved.services[service].environment ?? {});
      expect(env.length).toBeGreaterThan(5);
      expect(env.filter((k) => !keys.includes(k))).toEqual([]);
      // and the raw file agrees with what compose resolved
      expect(Object.keys(raw.services[service].environment ?? {}).sort()).toEqual([...env].sort());
    }
  });

  it('points api and worker at the compose services', () => {
    for (const service of ['api', 'worker']) {
      const env = resolved.services[service].environment ?? {};
      expect(new URL(String(env.DATABASE_URL)).hostname).toBe('postgres');
      expect(String(env.TEMPORAL_ADDRESS).split(':')[0]).toBe('temporal');
      expect(new URL(String(env.PLATFORM_URL)).hostname).toBe('api');
    }
  });

  it('the worker and the api reach the engine: socket mounted at DOCKER_SOCKET, running as root', () => {
    // The api's /readyz probes every configured provider (503 without the engine); /admin/orphans lists containers.
    for (const service of ['worker', 'api']) {
      const s = resolved.services[service];
      expect(String(s.environment?.COMPUTE_PROVIDERS)).toContain('docker');
      const socket = String(s.environment?.DOCKER_SOCKET);
      const mounts = (s.volumes ?? []).map((v) => (typeof v === 'string' ? v.split(':')[1] : v.target));
      expect(mounts).toContain(socket);
      expect(s.user).toBe('root');
    }
  });

  it('the workspace network exists under DOCKER_NETWORK and the api is on it', () => {
    const network = String(resolved.services.api.environment?.DOCKER_NETWORK);
    expect(resolved.services.worker.environment?.DOCKER_NETWORK).toBe(network);
    const [key, def] = Object.entries(resolved.networks ?? {}).find(([, d]) => d?.name === network) ?? [];
    expect(def?.name).toBe(network);
    const apiNets = resolved.services.api.networks ?? {};
    expect(Array.isArray(apiNets) ? apiNets : Object.keys(apiNets)).toContain(key);
  });

  it('declares every custom search attribute the workflows use, as Keyword', () => {
    const init = Object.values(resolved.services).find((s) => /temporal operator search-attribute create/.test(JSON.stringify(s.command ?? '')));
    expect(init?.image).toMatch(/^temporalio\/admin-tools:/);
    const script = JSON.stringify(init?.command);
    expect(script).toContain('--type Keyword');
    for (const name of SEARCH_ATTRIBUTE_NAMES) expect(script).toContain(name);
    for (const service of ['api', 'worker']) {
      expect(JSON.stringify(resolved.services[service])).toContain('service_completed_successfully');
    }
  });

  it('the README lists every config variable', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    for (const key of CONFIG_KEYS) expect(readme).toContain(`\`${key}\``);
  });
});
