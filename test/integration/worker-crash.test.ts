// Durability: the worker process is SIGKILLed mid-provision and mid-import, then a new one starts.
// The workflows finish; nothing is created twice.
import { containerName } from '../../domain/vocabulary';
import { readTokenFile, removeWorkspaceContainer } from './support/compute';
import { startPlatform, waitFor, type Platform } from './support/platform';
import { startWorkerProcess, type WorkerProcess } from './support/worker-process';

let p: Platform;
let worker: WorkerProcess | null = null;
beforeAll(async () => {
  p = await startPlatform({ worker: false });
});
afterAll(async () => {
  await worker?.kill();
  await p?.close();
});

describe('worker killed and restarted', () => {
  it('mid-provision: the workflow completes and exactly one container exists', async () => {
    worker = await startWorkerProcess(p);
    const res = await p.api<{ workspace: { id: string }; workflow_id: string }>('POST', '/workspaces', {
      name: 'Crash Provision',
      compute: 'docker',
      provision_timeout_seconds: 300,
      secrets: { AGENT_BEHAVIOUR: 'silent' }, // the test registers as the agent, at a moment it chooses
    });
    const id = res.body.workspace.id;
    await waitFor('awaiting registration', async () => {
      const ws = await p.api<{ operation: { phase: string } | null }>('GET', `/workspaces/${id}`);
      return ws.body.operation?.phase === 'awaiting_registration';
    });
    await worker.kill();

    // The agent registers while no worker runs: the row goes online and the signal waits in Temporal.
    const token = await readTokenFile(p, id);
    expect((await p.api('POST', '/registry/register', { workspace_id: id }, token)).status).toBe(200);

    worker = await startWorkerProcess(p);
    const result = await p.temporal.workflow.getHandle(res.body.workflow_id).result();
    expect(result).toMatchObject({ status: 'online' });
    const containers = await p.docker.listContainers({ all: true, filters: { name: [containerName(id)] } });
    expect(containers).toHaveLength(1);
    const tokens = await p.clients.pool.query('SELECT count(*)::int AS n FROM workspace_auth_tokens WHERE workspace_id = $1', [id]);
    expect(tokens.rows[0].n).toBe(1); // minted once: no activity re-ran after its completion was recorded
    await removeWorkspaceContainer(p, id);
    await worker.kill();
    worker = null;
  });

  it('mid-import of 200 workspaces: completes with exactly 200 rows, no duplicates, events paired once', async () => {
    // 1 root + 4 team leads + 195 members (49, 49, 49, 48) = 200 workspaces, depth 3.
    const teams = [49, 49, 49, 48].map((size, t) => ({
      name: `Team ${t}`,
      runtime: 'external',
      children: Array.from({ length: size }, (_, m) => ({ name: `Member ${t}-${m}`, runtime: 'external' })),
    }));
    const template = { name: 'Crash Org', workspaces: [{ name: 'Crash Root', runtime: 'external', children: teams }] };

    worker = await startWorkerProcess(p);
    const res = await p.api<{ import_id: string; workflow_id: string }>('POST', '/org/import', { template });
    expect(res.status).toBe(202);
    await worker.kill(); // at whatever line it was on
    worker = await startWorkerProcess(p);

    const view = await waitFor(
      'import finished',
      async () => {
        const v = await p.api<{ status: string; created_count: number }>('GET', `/org/imports/${res.body.import_id}`);
        return v.body.status !== 'running' ? v.body : null;
      },
      120_000,
    );
    expect(view).toMatchObject({ status: 'completed', created_count: 200 });
    const rows = await p.clients.pool.query('SELECT count(*)::int AS n, count(DISTINCT (parent_id, name))::int AS distinct_n FROM workspaces WHERE org_import_id = $1', [res.body.import_id]);
    expect(rows.rows[0]).toEqual({ n: 200, distinct_n: 200 });
    const tokens = await p.clients.pool.query(
      'SELECT count(*)::int AS n FROM workspace_auth_tokens t JOIN workspaces w ON w.id = t.workspace_id WHERE w.org_import_id = $1',
      [res.body.import_id],
    );
    expect(tokens.rows[0].n).toBe(200);
    const events = await p.clients.pool.query('SELECT event_type FROM structure_events WHERE org_import_id = $1 ORDER BY id', [res.body.import_id]);
    expect(events.rows.map((r) => r.event_type)).toEqual(['org.import.started', 'org.import.completed']);
    await worker.kill();
    worker = null;
  });
});
