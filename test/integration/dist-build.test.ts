// The production build, end to end: `npm run build` (into a directory of this run's own, so it never
// races a developer's dist/), then the compiled programs, `node <out>/api/main.js` and
// `node <out>/worker/main.js`, as child processes against the run's real servers, on a fresh database
// (so the compiled migrate must find the copied migrations). One Docker workspace is provisioned through
// the compiled API, registers and goes online, and is deleted. The worker must have loaded the pre-built
// workflow bundle, not bundled at start. Both stop on SIGTERM with exit 0.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import Docker from 'dockerode';
import { ensureDatabase } from '../../db/migrate';
import { containerName } from '../../domain/vocabulary';
import { freePort, killProcess } from '../harness/processes';
import { RUN_DIR, recordTestProcess, testServers } from '../harness/servers';
import { ADMIN_TOKEN, testEnv, waitFor } from './support/platform';

const ROOT = join(__dirname, '..', '..');
const servers = testServers();
// Named after the run: global teardown removes it if this file dies before its afterAll.
const OUT = join(RUN_DIR, `dist-${servers.runId}`);

interface Proc {
  name: string;
  child: ChildProcess;
  logFile: string;
  exit: Promise<number | null>;
}
const procs: Proc[] = [];

/** Starts a compiled program in its own process group (recorded, so teardown stops it if we do not). */
function startCompiled(name: string, entry: string, env: NodeJS.ProcessEnv): Proc {
  const logFile = join(RUN_DIR, `dist${name}-${servers.runId}.log`); // pruned with the run's other logs
  const out = openSync(logFile, 'w');
  const child = spawn(process.execPath, [join(OUT, entry)], { cwd: ROOT, env, stdio: ['ignore', out, out], detached: true });
  if (!child.pid) throw new Error(`could not start ${entry}`);
  recordTestProcess(`dist-${name}`, child.pid);
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const proc = { name, child, logFile, exit };
  procs.push(proc);
  return proc;
}

const log = (p: Proc) => (existsSync(p.logFile) ? readFileSync(p.logFile, 'utf8') : '');
function alive(p: Proc): void {
  if (p.child.exitCode !== null) throw new Error(`${p.name} exited (${p.child.exitCode}):\n${log(p).slice(-3000)}`);
}

function run(command: string, args: string[], timeoutMs: number, env: NodeJS.ProcessEnv = process.env): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

let api: Proc;
let worker: Proc;
let url: string;
let programEnv: NodeJS.ProcessEnv;
const docker = new Docker({ socketPath: servers.dockerSocket });

async function call<T = Record<string, unknown>>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const headers: Record<string, string> = { authorization: `Bearer ${ADMIN_TOKEN}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : null) as T };
}

beforeAll(async () => {
  // `npm run build -- --out-dir DIR`, exactly as a deploy runs it (DIR inside the project: node_modules).
  const build = await run('npm', ['run', 'build', '--', '--out-dir', relative(ROOT, OUT)], 300_000);
  if (build.code !== 0) throw new Error(`npm run build failed (${build.code}):\n${build.output.slice(-3000)}`);
  for (const f of ['api/main.js', 'worker/main.js', 'workflow-bundle.js', 'db/migrations/001_init.sql', 'scripts/healthcheck.js']) {
    if (!existsSync(join(OUT, f))) throw new Error(`npm run build wrote no ${f} in ${OUT}`);
  }

  // A database of its own, created but not migrated: the compiled programs migrate it.
  const db = new URL(servers.databaseUrl);
  db.pathname = `${db.pathname}_dist`;
  await ensureDatabase(db.toString());

  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  const env: NodeJS.ProcessEnv = (programEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    ...testEnv(servers, `test-dist-${process.pid}`),
    DATABASE_URL: db.toString(),
    API_HOST: '127.0.0.1',
    API_PORT: String(port),
    PLATFORM_URL: url,
    SWEEPER_ENABLED: 'false',
    LOG_LEVEL: 'info',
    NODE_ENV: 'production',
    WORKER_HEALTH_FILE: join(OUT, 'worker-health'),
  });
  worker = startCompiled('worker', 'worker/main.js', env);
  api = startCompiled('api', 'api/main.js', env);
  await waitFor(`compiled worker started (log: ${worker.logFile})`, async () => (alive(worker), log(worker).includes('"worker started"')), 90_000);
  await waitFor(`compiled API ready (log: ${api.logFile})`, async () => {
    alive(api);
    return (await fetch(`${url}/readyz`)).status === 200;
  }, 90_000);
}, 480_000);

afterAll(async () => {
  for (const p of procs) await killProcess(p.child.pid!, 10_000);
  rmSync(OUT, { recursive: true, force: true });
});

describe('the compiled build (npm run build → node dist/...)', () => {
  it('the worker loads the pre-built workflow bundle: no bundling at start', () => {
    const text = log(worker);
    const line = text.split('\n').find((l) => l.includes('using the pre-built workflow bundle'));
    expect(line).toBeDefined();
    expect(JSON.parse(line!)).toMatchObject({ workflowBundle: join(OUT, 'workflow-bundle.js'), from: 'build' });
    expect(text).not.toMatch(/bundling the workflow code at start|Workflow bundle created|webpack/i);
  });

  it('needs only production dependencies (the image installs npm ci --omit=dev)', () => {
    const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
    const required = new Set<string>();
    const walk = (dir: string): void => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const file = join(dir, e.name);
        if (e.isDirectory()) walk(file);
        else if (e.name.endsWith('.js') && e.name !== 'workflow-bundle.js') {
          for (const m of readFileSync(file, 'utf8').matchAll(/\brequire\("([^".][^"]*)"\)/g)) required.add(m[1]);
        }
      }
    };
    walk(OUT);
    const packages = [...required].filter((r) => !r.startsWith('node:')).map((r) => r.split('/').slice(0, r.startsWith('@') ? 2 : 1).join('/'));
    expect(packages).toEqual(expect.arrayContaining(['fastify', '@temporalio/worker', 'pg']));
    const devOnly = packages.filter((name) => lock.packages[`node_modules/${name}`]?.dev === true);
    const missing = packages.filter((name) => !lock.packages[`node_modules/${name}`]);
    expect({ devOnly, missing }).toEqual({ devOnly: [], missing: [] });
  });

  it('the API answers /readyz 200 with every dependency checked, and the image healthcheck passes for both', async () => {
    const ready = await call<{ status: string; checks: Record<string, string> }>('GET', '/readyz');
    expect(ready).toEqual({ status: 200, body: { status: 'ready', checks: { postgres: 'ok', temporal: 'ok', docker: 'ok', ec2: 'ok' } } });
    // The Dockerfile's HEALTHCHECK command, with the services' environment (the worker's health file).
    for (const service of ['api', 'worker']) {
      const check = await run(process.execPath, [join(OUT, 'scripts', 'healthcheck.js'), service], 30_000, programEnv);
      expect(check).toMatchObject({ code: 0, output: expect.stringContaining(`healthy (${service})`) });
    }
  });

  it('provisions a Docker workspace through the compiled API and worker, then deletes it', async () => {
    const created = await call<{ workspace: { id: string }; workflow_id: string }>('POST', '/workspaces', { name: 'Dist Build', compute: 'docker' });
    expect(created.status).toBe(202);
    const id = created.body.workspace.id;
    const online = await waitFor(
      'workspace online through the compiled programs',
      async () => {
        alive(worker);
        alive(api);
        const ws = await call<{ status: string; operation: { status: string } | null }>('GET', `/workspaces/${id}`);
        return ws.body.status === 'online' && ws.body.operation?.status === 'COMPLETED' ? ws.body : null;
      },
      120_000,
    );
    expect(online.status).toBe('online');
    expect((await docker.getContainer(containerName(id)).inspect()).State.Running).toBe(true);

    const del = await call('DELETE', `/workspaces/${id}?confirm=true`);
    expect(del).toEqual({ status: 200, body: { status: 'removed', cascade_deleted: 1 } });
    await expect(docker.getContainer(containerName(id)).inspect()).rejects.toMatchObject({ statusCode: 404 });
  });

  it('both stop on SIGTERM and exit 0 (drained, connections closed)', async () => {
    for (const p of [api, worker]) {
      alive(p);
      process.kill(p.child.pid!, 'SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise((r) => (timer = setTimeout(() => r('still running after 30 s'), 30_000)));
      await expect(Promise.race([p.exit, late]).finally(() => clearTimeout(timer))).resolves.toBe(0);
    }
    expect(log(worker)).toContain('"worker stopped"');
  });
});
