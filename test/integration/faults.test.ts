// Fault suite (F3, F4, F5, F7; F1 is worker-crash.test.ts): real faults injected into real servers.
// Each case is bounded in time and cleans up. The counts are printed at the end.
import { join } from 'node:path';
import Docker from 'dockerode';
import { Client } from 'pg';
import { adminDatabaseUrl } from '../../db/migrate';
import { containerName } from '../../domain/vocabulary';
import { killProcess, startDetached } from '../harness/processes';
import { recordTestProcess, RUN_DIR, testServers } from '../harness/servers';
import { containerExists, instancesOf, tokenFromUserData, volumeExists } from './support/compute';
import { startFaultyProxy, type FaultyProxy } from './support/faulty-proxy';
import { startPlatform, waitFor, type Platform } from './support/platform';

const summary = { cases: 0, faultsSurvived: 0, leaks: 0 };
afterAll(() => {
  console.log(`fault suite: ${summary.cases} cases run, ${summary.faultsSurvived} faults survived, ${summary.leaks} leaks found`);
});

type ImportOutcome = { importId: string; status: string; created_count: number };

describe('F3: Postgres connections killed during activities', () => {
  let p: Platform;
  beforeAll(async () => {
    p = await startPlatform();
  });
  afterAll(async () => {
    await p?.close();
  });

  it('an import survives its connections being terminated: no lost or doubled writes', async () => {
    const dbName = new URL(p.servers.databaseUrl).pathname.slice(1);
    const admin = new Client({ connectionString: adminDatabaseUrl(p.servers.databaseUrl) });
    await admin.connect();
    let kills = 0;
    let stop = false;
    const killer = (async () => {
      while (!stop) {
        const r = await admin.query('SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [dbName]);
        kills += r.rows[0].n;
        await new Promise((res) => setTimeout(res, 50));
      }
    })();
    const template = {
      name: 'F3 Org',
      workspaces: [{ name: 'F3 Root', runtime: 'external', children: Array.from({ length: 5 }, (_, i) => ({ name: `F3 Team ${i}`, runtime: 'external', children: Array.from({ length: 19 }, (_, j) => ({ name: `F3 M ${i}-${j}`, runtime: 'external' })) })) }],
    };
    let result: ImportOutcome;
    try {
      const started = await waitFor('import accepted despite the kills', async () => {
        const res = await p.api<{ import_id: string }>('POST', '/org/import', { template });
        return res.status === 202 ? res.body.import_id : null;
      });
      await new Promise((res) => setTimeout(res, 3000));
      stop = true;
      await killer;
      result = await waitFor('import finished', async () => {
        const v = await p.api<{ status: string; created_count: number }>('GET', `/org/imports/${started}`);
        return v.status === 200 && v.body.status !== 'running' ? { importId: started, ...v.body } : null;
      }, 180_000);
    } finally {
      stop = true;
      await admin.end();
    }
    expect(kills).toBeGreaterThan(0);
    expect(result).toMatchObject({ status: 'completed', created_count: 101 });
    const rows = await p.clients.pool.query('SELECT count(*)::int AS n, count(DISTINCT (parent_id, name))::int AS d FROM workspaces WHERE org_import_id = $1', [result.importId]);
    expect(rows.rows[0]).toEqual({ n: 101, d: 101 });
    const tokens = await p.clients.pool.query('SELECT count(*)::int AS n FROM workspace_auth_tokens t JOIN workspaces w ON w.id = t.workspace_id WHERE w.org_import_id = $1', [result.importId]);
    expect(tokens.rows[0].n).toBe(101);
    const events = await p.clients.pool.query('SELECT event_type FROM structure_events WHERE org_import_id = $1 ORDER BY id', [result.importId]);
    expect(events.rows.map((r) => r.event_type)).toEqual(['org.import.started', 'org.import.completed']);
    summary.cases++;
    summary.faultsSurvived += kills;
  });
});

describe('F4: Docker API unavailable for a while', () => {
  let p: Platform;
  beforeAll(async () => {
    p = await startPlatform();
  });
  afterAll(async () => {
    await p?.close();
  });

  /** Stops the run's Podman API service, runs `during`, then starts a new one on the same socket. */
  async function withPodmanDown(during: () => Promise<void>, downMs: number): Promise<void> {
    const state = testServers();
    await killProcess(state.pids.podman);
    try {
      await during();
      await new Promise((r) => setTimeout(r, downMs));
    } finally {
      recordTestProcess('podman', startDetached('podman', ['system', 'service', '--time=0', `unix://${state.dockerSocket}`], join(RUN_DIR, `podman-${state.runId}.log`)));
      await waitFor('podman back', () => new Docker({ socketPath: state.dockerSocket }).version().then(() => true));
    }
  }

  it('a provision started while the engine is down waits and finishes once it is back', async () => {
    let id = '';
    await withPodmanDown(async () => {
      const res = await p.api<{ workspace: { id: string } }>('POST', '/workspaces', { name: 'F4 Provision', compute: 'docker' });
      expect(res.status).toBe(202);
      id = res.body.workspace.id;
      await waitFor('a failed start attempt', async () => {
        const ws = await p.api<{ operation: { pending_activity: { attempt: number; last_failure: string | null } | null } | null }>('GET', `/workspaces/${id}`);
        const pending = ws.body.operation?.pending_activity;
        return pending && pending.attempt >= 2 ? pending : null;
      });
    }, 1000);
    const result = await p.temporal.workflow.getHandle(`provision-${id}`).result();
    expect(result.status).toBe('online');
    expect((await p.docker.listContainers({ all: true, filters: { name: [containerName(id)] } }))).toHaveLength(1);
    summary.cases++;
    summary.faultsSurvived++;
    await p.api('DELETE', `/workspaces/${id}?confirm=true`);
  });

  it('a delete while the engine is down reports the stop failure; the sweeper finishes the job', async () => {
    const res = await p.api<{ workspace: { id: string } }>('POST', '/workspaces', { name: 'F4 Delete', compute: 'docker' });
    const id = res.body.workspace.id;
    await p.temporal.workflow.getHandle(`provision-${id}`).result();
    await withPodmanDown(async () => {
      const del = await p.api<{ code: string; stop_failures: Array<{ workspace_id: string }> }>('DELETE', `/workspaces/${id}?confirm=true`);
      expect(del.status).toBe(500);
      expect(del.body.stop_failures.map((f) => f.workspace_id)).toEqual([id]);
    }, 0);
    expect(await containerExists(p, id)).toBe(true);
    const sweep = await p.temporal.workflow.start('orphanSweep', { taskQueue: p.taskQueue, workflowId: `f4-sweep-${id}`, args: [{}] });
    await sweep.result();
    expect(await containerExists(p, id)).toBe(false);
    expect(await volumeExists(p, id)).toBe(false);
    summary.cases++;
    summary.faultsSurvived++;
  });
});

describe('F5: EC2 API errors injected through a proxy in front of moto', () => {
  let p: Platform;
  let proxy: FaultyProxy;
  beforeAll(async () => {
    const { testServers } = await import('../harness/servers');
    proxy = await startFaultyProxy(testServers().ec2Endpoint);
    p = await startPlatform({ env: { EC2_ENDPOINT: proxy.url } });
  });
  afterAll(async () => {
    await p?.close();
    await proxy?.close();
  });

  it('a launch whose answer is lost, then 5xx on terminate: exactly one instance, none leaked after delete', async () => {
    let lostLaunches = 0;
    proxy.rule = (action) => (action === 'RunInstances' && lostLaunches++ === 0 ? 'forward-then-fail' : 'pass');
    const res = await p.api<{ workspace: { id: string } }>('POST', '/workspaces', { name: 'F5 Cloud', compute: 'ec2' });
    const id = res.body.workspace.id;
    const instanceId = await waitFor('instance id', async () => {
      const { rows } = await p.clients.pool.query('SELECT instance_id FROM workspaces WHERE id = $1', [id]);
      return rows[0].instance_id as string | null;
    });
    const live = async () => (await instancesOf(p, id)).filter((i) => i.State?.Name !== 'terminated' && i.State?.Name !== 'shutting-down');
    expect(await live()).toHaveLength(1); // the retried launch found the one the lost answer created
    const token = await tokenFromUserData(p, instanceId);
    await waitFor('registered', async () => (await p.api('POST', '/registry/register', { workspace_id: id }, token)).status === 200);
    expect((await p.temporal.workflow.getHandle(`provision-${id}`).result()).status).toBe('online');

    proxy.rule = (action) => (action === 'TerminateInstances' ? 'fail' : 'pass');
    const failed = await p.api<{ stop_failures: Array<{ workspace_id: string }> }>('DELETE', `/workspaces/${id}?confirm=true`);
    expect(failed.status).toBe(500); // a 5xx is never taken for success
    expect(failed.body.stop_failures.map((f) => f.workspace_id)).toEqual([id]);
    expect(await live()).toHaveLength(1);

    proxy.rule = () => 'pass';
    const retried = await p.api('DELETE', `/workspaces/${id}?confirm=true`);
    expect(retried.body).toEqual({ status: 'removed', cascade_deleted: 1 });
    const leaks = (await live()).length;
    summary.leaks += leaks;
    expect(leaks).toBe(0);
    summary.cases++;
    summary.faultsSurvived += 2;
  });
});

describe('F7: resurrection race', () => {
  let p: Platform;
  beforeAll(async () => {
    p = await startPlatform();
  });
  afterAll(async () => {
    await p?.close();
  });

  it('register and heartbeat hammered during a delete: the status stays removed', async () => {
    const res = await p.api<{ workspace: { id: string }; auth_token: string }>('POST', '/workspaces', { name: 'F7 Target', runtime: 'external' });
    const { id } = res.body.workspace;
    const token = res.body.auth_token;
    let stop = false;
    const statuses = new Map<number, number>();
    const hammer = async () => {
      while (!stop) {
        for (const path of ['/registry/register', '/registry/heartbeat']) {
          const r = await p.api(('POST'), path, { workspace_id: id }, token);
          statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
        }
      }
    };
    const hammers = Array.from({ length: 8 }, hammer);
    await new Promise((r) => setTimeout(r, 300));
    const del = await p.api('DELETE', `/workspaces/${id}?confirm=true`);
    await new Promise((r) => setTimeout(r, 500));
    stop = true;
    await Promise.all(hammers);
    expect(del.body).toEqual({ status: 'removed', cascade_deleted: 1 });
    const { rows } = await p.clients.pool.query('SELECT status, removed_at FROM workspaces WHERE id = $1', [id]);
    expect(rows[0].status).toBe('removed');
    expect([...statuses.keys()].every((s) => s === 200 || s === 401 || s === 410)).toBe(true);
    expect(statuses.get(200) ?? 0).toBeGreaterThan(0); // the hammer really ran before the delete
    summary.cases++;
    summary.faultsSurvived += [...statuses.values()].reduce((a, b) => a + b, 0);
  });
});

describe('F2: Temporal server restarted mid-provision', () => {
  let p: Platform;
  let pid = 0;
  let args: string[] = [];
  let address = '';

  /** Starts a persistent dev server (SQLite file) and records its pid so teardown stops it too. */
  async function startTemporal(): Promise<void> {
    pid = startDetached(testServers().temporalBinary, args, join(RUN_DIR, `f2-temporal-${process.pid}.log`));
    recordTestProcess('f2temporal', pid);
    const { Connection } = await import('@temporalio/client');
    await waitFor('persistent Temporal up', async () => {
      const c = await Connection.connect({ address, connectTimeout: 500 });
      await c.workflowService.getSystemInfo({});
      await c.close();
      return true;
    });
  }

  beforeAll(async () => {
    const { freePort } = await import('../harness/processes');
    const { SEARCH_ATTRIBUTE_NAMES } = await import('../../domain/vocabulary');
    const [port, http, metrics] = await Promise.all([freePort(), freePort(), freePort()]);
    address = `127.0.0.1:${port}`;
    args = [
      'server', 'start-dev', '--headless', '--ip', '127.0.0.1', '--port', String(port), '--http-port', String(http), '--metrics-port', String(metrics),
      '--db-filename', join(RUN_DIR, `f2-temporal-${process.pid}.db`), '--namespace', 'default', '--log-level', 'error',
      ...SEARCH_ATTRIBUTE_NAMES.flatMap((n) => ['--search-attribute', `${n}=Keyword`]),
    ];
    await startTemporal();
    p = await startPlatform({ temporalAddress: address });
  });
  afterAll(async () => {
    await p?.close();
    if (pid) await killProcess(pid);
    const { rmSync } = await import('node:fs');
    rmSync(join(RUN_DIR, `f2-temporal-${process.pid}.db`), { force: true });
  });

  it('the provision completes after the server is back; one container', async () => {
    const res = await p.api<{ workspace: { id: string }; workflow_id: string }>('POST', '/workspaces', {
      name: 'F2 Provision',
      compute: 'docker',
      provision_timeout_seconds: 300,
      secrets: { AGENT_BEHAVIOUR: 'silent' },
    });
    const id = res.body.workspace.id;
    await waitFor('awaiting registration', async () => {
      const ws = await p.api<{ operation: { phase: string } | null }>('GET', `/workspaces/${id}`);
      return ws.body.operation?.phase === 'awaiting_registration';
    });
    await killProcess(pid);
    await startTemporal();
    const { readTokenFile } = await import('./support/compute');
    const token = await readTokenFile(p, id);
    await waitFor('registered after the restart', async () => (await p.api('POST', '/registry/register', { workspace_id: id }, token)).status === 200);
    const result = await p.temporal.workflow.getHandle(res.body.workflow_id).result();
    expect(result.status).toBe('online');
    expect(await p.docker.listContainers({ all: true, filters: { name: [containerName(id)] } })).toHaveLength(1);
    summary.cases++;
    summary.faultsSurvived++;
    await p.api('DELETE', `/workspaces/${id}?confirm=true`);
  });
});
