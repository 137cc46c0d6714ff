// Issue 14's hardening rules against the real servers: template variables from an allowlist only, the
// admin check before body parsing, 503 (not 500) without SECRETS_KEY, and /readyz probes shared within
// their cache window.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { ComputePorts } from '../../activities/compute-ports';
import { containerName } from '../../domain/vocabulary';
import { createOnline, removeWorkspaceContainer } from './support/compute';
import { ADMIN_TOKEN, startExtraApi, startPlatform, waitFor, type Platform } from './support/platform';

let p: Platform;
let root: string;
const TEMPLATE_VAR_X = '/srv/from-template-var-x';

function writeTemplate(dir: string, files: Record<string, string>): void {
  for (const [rel, text] of Object.entries(files)) {
    const path = join(root, dir, rel);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text);
  }
}

/** Defaults for every runtime, and hermes overriding memory and CPUs (pids keeps the default). */
const LIMITS_ENV = { CONTAINER_MEMORY_MB: '384', CONTAINER_PIDS_LIMIT: '96', CONTAINER_CPUS: '0.5', CONTAINER_MEMORY_MB_HERMES: '448', CONTAINER_CPUS_HERMES: '1.25' };

const orgWithDir = (workspaceDir: string) => `name: Vars Org\nworkspaces:\n  - name: Vars WS\n    runtime: external\n    workspace_dir: "${workspaceDir}"\n`;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'hardening-'));
  writeTemplate('vars-allowed', { 'org.yaml': orgWithDir('${TEMPLATE_VAR_X}/agents') });
  writeTemplate('vars-secret', { 'org.yaml': orgWithDir('${TEMPLATE_VAR_X}/${SECRETS_KEY}') });
  writeTemplate('vars-admin', { 'team.yaml': 'name: T\nworkspace_dir: "/w/${ADMIN_TOKEN}"\n', 'org.yaml': 'name: O\nworkspaces:\n  - !include team.yaml\n' });
  writeTemplate('vars-listed', { 'org.yaml': orgWithDir('${TEMPLATE_VAR_X}/${DATABASE_URL}') });
  writeTemplate('vars-unset', { 'org.yaml': orgWithDir('${TEMPLATE_VAR_X}/${TEMPLATE_VAR_NEVER_SET}') });
  p = await startPlatform({ env: { TEMPLATES_ROOT: root, TEMPLATE_VAR_X, ...LIMITS_ENV } });
});
afterAll(async () => {
  await p?.close();
  rmSync(root, { recursive: true, force: true });
});

/** A second API on the run's servers with its own config (no worker: these routes answer before one matters). */

describe('template variables (POST /org/import {dir})', () => {
  const saved = { SECRETS_KEY: process.env.SECRETS_KEY, DATABASE_URL: process.env.DATABASE_URL };
  // The API process's own environment holds the key, as in production: the old expansion read it.
  beforeAll(() => {
    process.env.SECRETS_KEY = p.config.SECRETS_KEY;
    process.env.DATABASE_URL = p.config.DATABASE_URL;
  });
  afterAll(() => {
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  });

  it('expands TEMPLATE_VAR_* from the platform configuration', async () => {
    const res = await p.api<{ import_id: string }>('POST', '/org/import', { dir: 'vars-allowed' });
    expect(res.status).toBe(202);
    const done = await waitFor('import finished', async () => {
      const v = await p.api<{ status: string }>('GET', `/org/imports/${res.body.import_id}`);
      return v.body.status !== 'running' ? v.body : null;
    });
    expect(done.status).toBe('completed');
    const { rows } = await p.clients.pool.query<{ template: { workspaces: Array<{ workspace_dir: string }> } }>('SELECT template FROM org_imports WHERE id = $1', [res.body.import_id]);
    expect(rows[0].template.workspaces[0].workspace_dir).toBe(`${TEMPLATE_VAR_X}/agents`);
  });

  it('refuses ${SECRETS_KEY}, ${ADMIN_TOKEN} and other configuration with the answer an unset variable gets', async () => {
    const unset = await p.api<Record<string, unknown>>('POST', '/org/import', { dir: 'vars-unset' });
    expect(unset.status).toBe(400);
    expect(unset.body).toEqual({
      error: 'workspaces[0].workspace_dir: workspace_dir refers to a variable that is not available to templates',
      code: 'INVALID_TEMPLATE',
      template_error: 'unset_variable',
      file: 'org.yaml',
      path: 'workspaces[0].workspace_dir',
    });
    for (const dir of ['vars-secret', 'vars-listed']) {
      const res = await p.api('POST', '/org/import', { dir });
      expect({ dir, status: res.status, body: res.body }).toEqual({ dir, status: 400, body: unset.body });
    }
    const admin = await p.api('POST', '/org/import', { dir: 'vars-admin' });
    expect(admin.body).toMatchObject({ code: 'INVALID_TEMPLATE', template_error: 'unset_variable', error: unset.body.error, file: 'team.yaml' });
    // Nothing of the key reached an answer or a table.
    const { rows } = await p.clients.pool.query<{ n: string }>('SELECT count(*)::text AS n FROM org_imports WHERE template::text LIKE $1', [`%${p.config.SECRETS_KEY}%`]);
    expect(rows[0].n).toBe('0');
  });

  it('inline templates expand nothing, not even TEMPLATE_VAR_*', async () => {
    const res = await p.api('POST', '/org/import', { template: { name: 'Inline', workspaces: [{ name: 'I', runtime: 'external', workspace_dir: '${TEMPLATE_VAR_X}/i' }] } });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ template_error: 'unset_variable', file: '<inline>' });
  });
});

describe('auth before work', () => {
  const MiB = 1024 * 1024;
  async function send(method: string, path: string, body: string | Buffer, contentType: string, token: string | null) {
    const headers: Record<string, string> = { 'content-type': contentType };
    if (token) headers.authorization = `Bearer ${token}`;
    const res = await fetch(`${p.url}${path}`, { method, headers, body });
    return { status: res.status, body: (await res.json()) as { code: string } };
  }

  it('admin routes answer 401 to a caller without the token before any 400/413/415', async () => {
    const big = JSON.stringify({ name: 'x', role: 'r'.repeat(2 * MiB) });
    const cases: Array<[string, string, string | Buffer, string, number]> = [
      ['POST', '/workspaces', big, 'application/json', 413],
      ['POST', '/workspaces', '{"name": ', 'application/json', 400],
      ['POST', '/workspaces', 'name=x', 'text/plain', 415],
      ['POST', '/workspaces', JSON.stringify({ name: 5 }), 'application/json', 400],
      ['POST', '/org/import', big, 'application/json', 413],
      ['POST', '/org/import', Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x7d]), 'application/json', 400],
      ['PUT', '/admin/secrets/HARDENING_X', big, 'application/json', 413],
      ['PUT', '/admin/secrets/HARDENING_X', 'v', 'text/plain', 415],
    ];
    for (const [method, path, body, type, withToken] of cases) {
      for (const token of [null, 'wrong', `${ADMIN_TOKEN}x`]) {
        const res = await send(method, path, body, type, token);
        expect({ method, path, token, status: res.status, code: res.body.code }).toEqual({ method, path, token, status: 401, code: 'UNAUTHORIZED' });
      }
      // The same request with the token gets the body's own answer: the order is what changed.
      expect({ method, path, status: (await send(method, path, body, type, ADMIN_TOKEN)).status }).toEqual({ method, path, status: withToken });
    }
  });

  it('agent routes keep their own auth: an oversized body is still a 413 there', async () => {
    const res = await send('POST', '/registry/register', JSON.stringify({ workspace_id: 'x', pad: 'p'.repeat(2 * MiB) }), 'application/json', null);
    expect(res).toEqual({ status: 413, body: expect.objectContaining({ code: 'BODY_TOO_LARGE' }) });
  });
});

describe('SECRETS_KEY unset', () => {
  it('routes that seal or open secrets answer 503 SECRETS_KEY_MISSING, change nothing, and the rest still works', async () => {
    const api = await startExtraApi(p, { SECRETS_KEY: '' });
    try {
      const headers = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };
      const name = `no-key-${Date.now()}`;
      const { rows: before } = await api.clients.pool.query('SELECT count(*)::int AS n FROM workspaces WHERE name = $1', [name]);
      const calls: Array<{ method: 'POST' | 'PUT'; url: string; payload: unknown }> = [
        { method: 'PUT', url: '/admin/secrets/HARDENING_NO_KEY', payload: { value: 'v' } },
        { method: 'POST', url: '/workspaces', payload: { name, secrets: { A_KEY: 'v' } } },
        { method: 'POST', url: '/workspaces', payload: { name, runtime: 'external' } },
        { method: 'POST', url: '/org/import', payload: { template: { name: 'NoKey', workspaces: [{ name, runtime: 'external' }] } } },
        { method: 'POST', url: `/workspaces/00000000-0000-4000-8000-00000000a014/restart`, payload: {} },
        { method: 'POST', url: `/workspaces/00000000-0000-4000-8000-00000000a014/provision`, payload: {} },
        { method: 'PUT', url: `/workspaces/00000000-0000-4000-8000-00000000a014/secrets/A_KEY`, payload: { value: 'v' } },
        { method: 'POST', url: `/org/imports/00000000-0000-4000-8000-00000000a014/retry`, payload: {} },
      ];
      for (const call of calls) {
        const res = await api.app.inject({ method: call.method, url: call.url, headers, payload: JSON.stringify(call.payload) });
        expect({ url: call.url, status: res.statusCode, body: res.json() }).toEqual({
          url: call.url,
          status: 503,
          body: { error: 'secrets are unavailable: the platform has no SECRETS_KEY configured', code: 'SECRETS_KEY_MISSING' },
        });
      }
      const { rows: after } = await api.clients.pool.query('SELECT count(*)::int AS n FROM workspaces WHERE name = $1', [name]);
      expect(after).toEqual(before);
      expect((await api.app.inject({ method: 'GET', url: '/workspaces?limit=1', headers })).statusCode).toBe(200);
      // Without the token it is still a 401 first.
      expect((await api.app.inject({ method: 'PUT', url: '/admin/secrets/X', payload: { value: 'v' } })).statusCode).toBe(401);
    } finally {
      await api.close();
    }
  });

  it('an agent whose inbound secret cannot be opened gets 503, not 500', async () => {
    // A workspace registered under the platform's key, then an API started without one.
    const created = await p.api<{ workspace: { id: string }; auth_token: string }>('POST', '/workspaces', { name: `keyless-agent-${Date.now()}`, runtime: 'external' });
    expect(created.status).toBe(201);
    const api = await startExtraApi(p, { SECRETS_KEY: '' });
    try {
      const res = await api.app.inject({
        method: 'POST',
        url: '/registry/heartbeat',
        headers: { authorization: `Bearer ${created.body.auth_token}`, 'content-type': 'application/json' },
        payload: JSON.stringify({ workspace_id: created.body.workspace.id }),
      });
      expect({ status: res.statusCode, code: res.json().code }).toEqual({ status: 503, code: 'SECRETS_KEY_MISSING' });
    } finally {
      await api.close();
    }
  });
});

describe('/readyz cache', () => {
  function counting(ports: ComputePorts, counts: Record<string, number>): ComputePorts {
    // Wrappers, not mocks: each ping still goes to the real engine / moto.
    const wrap = <T extends { ping(): Promise<void> }>(name: string, port: T): T => {
      counts[name] = 0;
      return Object.assign(Object.create(port) as T, {
        ping: async () => {
          counts[name]++;
          return port.ping();
        },
      });
    };
    return {
      ...(ports.docker ? { docker: wrap('docker', ports.docker) } : {}),
      ...(ports.ec2 ? { ec2: wrap('ec2', ports.ec2) } : {}),
    };
  }

  it('many calls within the window share one probe per provider', async () => {
    const counts: Record<string, number> = {};
    const api = await startExtraApi(p, { READYZ_CACHE_SECONDS: '300' }, (ports) => counting(ports, counts));
    try {
      const burst = await Promise.all(Array.from({ length: 20 }, () => api.app.inject({ method: 'GET', url: '/readyz' })));
      for (let i = 0; i < 20; i++) burst.push(await api.app.inject({ method: 'GET', url: '/readyz' }));
      expect(burst.map((r) => r.statusCode)).toEqual(Array(40).fill(200));
      expect(burst[39].json()).toEqual({ status: 'ready', checks: { postgres: 'ok', temporal: 'ok', docker: 'ok', ec2: 'ok' } });
      expect(counts).toEqual({ docker: 1, ec2: 1 });
    } finally {
      await api.close();
    }
  });

  it('READYZ_CACHE_SECONDS=0 probes on every call (the counter counts)', async () => {
    const counts: Record<string, number> = {};
    const api = await startExtraApi(p, { READYZ_CACHE_SECONDS: '0' }, (ports) => counting(ports, counts));
    try {
      for (let i = 0; i < 3; i++) expect((await api.app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
      expect(counts).toEqual({ docker: 3, ec2: 3 });
    } finally {
      await api.close();
    }
  });
});

describe('workspace containers run with limits (Podman)', () => {
  /** /proc/1/status of the running agent, read through the engine's exec (the stream is multiplexed). */
  async function agentStatus(id: string): Promise<string> {
    const exec = await p.docker.getContainer(containerName(id)).exec({ Cmd: ['cat', '/proc/1/status'], AttachStdout: true, AttachStderr: true });
    const stream = await exec.start({ hijack: true, stdin: false });
    const chunks: Buffer[] = [];
    await new Promise<void>((resolve, reject) => {
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', resolve);
      stream.on('error', reject);
    });
    return Buffer.concat(chunks).toString('latin1');
  }

  async function provisioned(runtime: string) {
    // createOnline returns once the agent registered: the stand-in works under these limits.
    const id = await createOnline(p, { name: `limits-${runtime}-${Date.now()}`, runtime, compute: 'docker' });
    try {
      const info = await p.docker.getContainer(containerName(id)).inspect();
      const hc = info.HostConfig as typeof info.HostConfig & { PidsLimit?: number; NanoCpus?: number; CpuQuota?: number; CpuPeriod?: number };
      return { hc, status: await agentStatus(id) };
    } finally {
      await p.api('DELETE', `/workspaces/${id}?confirm=true`);
      await removeWorkspaceContainer(p, id);
    }
  }
  /** Podman reports CPUs as NanoCpus and as quota/period; either must say the same. */
  const cpusOf = (hc: { NanoCpus?: number; CpuQuota?: number; CpuPeriod?: number }) => (hc.NanoCpus ? hc.NanoCpus / 1e9 : (hc.CpuQuota ?? 0) / (hc.CpuPeriod || 100_000));

  it('memory, pids and CPU capped, no-new-privileges, every capability dropped; the agent still registers', async () => {
    const { hc, status } = await provisioned('claude-code');
    expect(hc.Memory).toBe(384 * 1024 * 1024);
    expect(hc.MemorySwap).toBe(384 * 1024 * 1024);
    expect(hc.PidsLimit).toBe(96);
    expect(cpusOf(hc)).toBeCloseTo(0.5, 5);
    expect(hc.SecurityOpt).toEqual(['no-new-privileges']);
    // Podman lists "ALL" as the capabilities it dropped; Docker keeps "ALL". Either way none is added.
    const dropped = (hc.CapDrop ?? []).map((c: string) => c.replace(/^CAP_/, ''));
    if (!dropped.includes('ALL')) expect(dropped).toEqual(expect.arrayContaining(['CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'KILL', 'NET_RAW', 'SETUID', 'SETGID', 'SYS_CHROOT', 'MKNOD']));
    expect(hc.CapAdd ?? []).toEqual([]);
    // And inside: the agent process holds no capability and cannot gain privileges.
    expect(/CapEff:\s*([0-9a-f]+)/.exec(status)?.[1]).toBe('0000000000000000');
    expect(/CapBnd:\s*([0-9a-f]+)/.exec(status)?.[1]).toBe('0000000000000000');
    expect(/NoNewPrivs:\s*(\d)/.exec(status)?.[1]).toBe('1');
  });

  it('a per-runtime override replaces only the fields it sets', async () => {
    const { hc } = await provisioned('hermes');
    expect(hc.Memory).toBe(448 * 1024 * 1024);
    expect(cpusOf(hc)).toBeCloseTo(1.25, 5);
    expect(hc.PidsLimit).toBe(96);
  });
});

describe('push URLs (POST /registry/register url)', () => {
  async function externalAgent(): Promise<{ id: string; token: string }> {
    const created = await p.api<{ workspace: { id: string }; auth_token: string }>('POST', '/workspaces', { name: `push-url-${Date.now()}`, runtime: 'external' });
    expect(created.status).toBe(201);
    return { id: created.body.workspace.id, token: created.body.auth_token };
  }
  const storedUrl = async (id: string) => (await p.clients.pool.query<{ url: string | null }>('SELECT url FROM workspaces WHERE id = $1', [id])).rows[0].url;

  it('refuses internal, loopback, link-local and metadata targets with 400 and a reason, storing nothing', async () => {
    const agent = await externalAgent();
    const refused: Array<[string, string]> = [
      ['http://169.254.169.254/latest/meta-data/', 'metadata'],
      ['http://[fd00:ec2::254]/', 'metadata'],
      ['http://[::ffff:169.254.169.254]/', 'metadata'],
      ['http://127.0.0.1:9000/hook', 'loopback'],
      ['http://2130706433/', 'loopback'],
      ['http://[::1]:8000/', 'loopback'],
      ['http://localhost:8000/', 'loopback'],
      ['http://10.0.0.7/', 'private'],
      ['http://[fd12::1]/', 'private'],
      ['http://[fe80::1]/', 'link_local'],
      ['http://100.64.1.1/', 'shared_address_space'],
      ['https://user:pw@8.8.8.8/', 'credentials'],
    ];
    for (const [url, reason] of refused) {
      const res = await p.api<{ code: string; reason: string }>('POST', '/registry/register', { workspace_id: agent.id, url }, agent.token);
      expect({ url, status: res.status, body: res.body }).toEqual({
        url,
        status: 400,
        body: { error: 'push url refused: it must be a public http(s) address', code: 'PUSH_URL_REFUSED', reason },
      });
    }
    expect(await storedUrl(agent.id)).toBeNull();
    // The token is checked first: without it, the same URL is a 401 that says nothing about the URL.
    expect((await p.api('POST', '/registry/register', { workspace_id: agent.id, url: 'http://169.254.169.254/' }, 'mol_wrong')).status).toBe(401);
    // A public address registers; no url at all (the agent stand-in's way) too.
    expect((await p.api('POST', '/registry/register', { workspace_id: agent.id, url: 'https://8.8.8.8/agent' }, agent.token)).status).toBe(200);
    expect(await storedUrl(agent.id)).toBe('https://8.8.8.8/agent');
    expect((await p.api('POST', '/registry/register', { workspace_id: agent.id }, agent.token)).status).toBe(200);
  });

  it('PUSH_URL_ALLOW_CIDRS opens loopback for a dev setup; the metadata service stays refused', async () => {
    const agent = await externalAgent();
    const api = await startExtraApi(p, { PUSH_URL_ALLOW_CIDRS: '127.0.0.0/8,::1/128' });
    try {
      const register = (url: string) =>
        api.app.inject({
          method: 'POST',
          url: '/registry/register',
          headers: { authorization: `Bearer ${agent.token}`, 'content-type': 'application/json' },
          payload: JSON.stringify({ workspace_id: agent.id, url }),
        });
      expect((await register('http://127.0.0.1:9000/hook')).statusCode).toBe(200);
      expect(await storedUrl(agent.id)).toBe('http://127.0.0.1:9000/hook');
      expect((await register('http://localhost:9001/')).statusCode).toBe(200);
      const metadata = await register('http://169.254.169.254/');
      expect({ status: metadata.statusCode, reason: metadata.json().reason }).toEqual({ status: 400, reason: 'metadata' });
      expect((await register('http://10.0.0.7/')).json().reason).toBe('private');
    } finally {
      await api.close();
    }
  });
});
