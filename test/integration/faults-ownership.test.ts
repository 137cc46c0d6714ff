// Fault suite, provision-run ownership (issue 13): F8 cancels provisions at random points of
// startCompute (Docker and EC2) and looks for anything left behind; F12 freezes a polling worker
// (SIGSTOP), lets a second worker finish the provisions, thaws the first and checks that the stale
// tasks it runs change nothing. Each case is bounded and cleans up; the counts are printed at the end.
import { hostname } from 'node:os';
import { readFileSync } from 'node:fs';
import { Worker } from '@temporalio/worker';
import { PROVISION_RUN_LABEL, WORKSPACE_ID_LABEL } from '../../domain/vocabulary';
import { testServers } from '../harness/servers';
import { seededRandom } from '../support/seeded-random';
import { instancesOf, readTokenFile } from './support/compute';
import { replayAndMaybeRecord } from './support/histories';
import { startPlatform, waitFor, type Platform } from './support/platform';
import { startWorkerProcess } from './support/worker-process';

const summary = { cases: 0, faultsSurvived: 0, leaks: 0 };
afterAll(() => {
  console.log(`fault suite: ${summary.cases} cases run, ${summary.faultsSurvived} faults survived, ${summary.leaks} leaks found`);
});

const LIVE_INSTANCE_STATES = ['pending', 'running', 'stopping', 'stopped'];

describe('F8: a provision cancelled at random points of startCompute leaves nothing behind', () => {
  let p: Platform;
  let cancelsDuringStart = 0;
  beforeAll(async () => {
    p = await startPlatform();
  });
  afterAll(async () => {
    await p?.close();
  });

  /** What a cancelled provision of `id` left: containers, volumes and live instances carrying its id. */
  async function leftovers(id: string): Promise<string[]> {
    const containers = await p.docker.listContainers({ all: true, filters: { label: [`${WORKSPACE_ID_LABEL}=${id}`] } });
    const { Volumes } = await p.docker.listVolumes({ filters: { label: [`${WORKSPACE_ID_LABEL}=${id}`] } });
    const instances = (await instancesOf(p, id)).filter((i) => LIVE_INSTANCE_STATES.includes(i.State?.Name ?? ''));
    return [
      ...containers.filter((c) => c.Labels?.[WORKSPACE_ID_LABEL] === id).map((c) => `container ${c.Id.slice(0, 12)} (run ${c.Labels?.[PROVISION_RUN_LABEL]})`),
      ...(Volumes ?? []).filter((v) => v.Labels?.[WORKSPACE_ID_LABEL] === id).map((v) => `volume ${v.Name}`),
      ...instances.map((i) => `instance ${i.InstanceId} (${i.State?.Name})`),
    ];
  }

  async function cancelDuringStart(compute: 'docker' | 'ec2', name: string, delayMs: number): Promise<string[]> {
    // A silent agent never registers, so the provision cannot finish before the cancel lands.
    const body = compute === 'docker' ? { name, compute, secrets: { AGENT_BEHAVIOUR: 'silent' } } : { name, compute };
    const res = await p.api<{ workspace: { id: string } }>('POST', '/workspaces', body);
    expect(res.status).toBe(202);
    const id = res.body.workspace.id;
    await waitFor(`${name} starting compute`, async () => {
      const view = await p.api<{ operation: { phase: string | null } | null }>('GET', `/workspaces/${id}`);
      return view.body.operation?.phase === 'starting_compute';
    }, 60_000, 20);
    await new Promise((r) => setTimeout(r, delayMs));
    const handle = p.temporal.workflow.getHandle(`provision-${id}`);
    await handle.cancel();
    await expect(handle.result()).rejects.toBeTruthy();
    // A cancel that reached a running startCompute (the waiting cancellation's path): replay it, and
    // keep the first one as a recorded history.
    const history = await handle.fetchHistory();
    if ((history.events ?? []).some((e) => e.activityTaskCancelRequestedEventAttributes)) {
      cancelsDuringStart++;
      if (cancelsDuringStart === 1) await replayAndMaybeRecord(p.temporal, handle.workflowId, undefined, 'provision-cancelled-during-start');
      else await Worker.runReplayHistory({ workflowBundle: { codePath: testServers().workflowBundlePath } }, history, handle.workflowId);
    }
    const left = await leftovers(id);
    const { rows } = await p.clients.pool.query('SELECT status FROM workspaces WHERE id = $1', [id]);
    expect(rows[0].status).toBe('failed');
    return left.map((l) => `${name}: ${l}`);
  }

  it('50 cancels (30 Docker, 20 EC2, seeded random delays): 0 containers, volumes or instances left', async () => {
    const rng = seededRandom(8_2026);
    const cases: Array<{ compute: 'docker' | 'ec2'; name: string; delayMs: number }> = [
      ...Array.from({ length: 30 }, (_, i) => ({ compute: 'docker' as const, name: `F8 Docker ${i}`, delayMs: Math.floor(rng() * 1500) })),
      ...Array.from({ length: 20 }, (_, i) => ({ compute: 'ec2' as const, name: `F8 EC2 ${i}`, delayMs: Math.floor(rng() * 2500) })),
    ];
    const leaks: string[] = [];
    for (let i = 0; i < cases.length; i += 5) {
      const batch = await Promise.all(cases.slice(i, i + 5).map((c) => cancelDuringStart(c.compute, c.name, c.delayMs)));
      leaks.push(...batch.flat());
    }
    summary.cases++;
    summary.faultsSurvived += cases.length;
    summary.leaks += leaks.length;
    expect(leaks).toEqual([]);
    expect(cancelsDuringStart).toBeGreaterThan(0);
  }, 600_000);
});

describe('F12: a frozen worker thawed after another finished its provisions', () => {
  let p: Platform;
  beforeAll(async () => {
    p = await startPlatform({ worker: false });
  });
  afterAll(async () => {
    await p?.close();
  });

  const PROVISIONS_PER_ROUND = 5;
  const MAX_ROUNDS = 8;
  const alreadyBegun = (logFile: string) => readFileSync(logFile, 'utf8').split('provision already begun by this run').length - 1;

  async function pollersOf(identity: string): Promise<boolean> {
    for (const taskQueueType of [1, 2]) {
      const { pollers } = await p.temporal.workflowService.describeTaskQueue({ namespace: p.servers.temporalNamespace, taskQueue: { name: p.taskQueue }, taskQueueType });
      if (!(pollers ?? []).some((poller) => poller.identity === identity)) return false;
    }
    return true;
  }

  async function snapshot(ids: string[]) {
    const tokens = await p.clients.pool.query('SELECT workspace_id, token_hash, revoked_at, provision_run_id FROM workspace_auth_tokens WHERE workspace_id = ANY($1::uuid[]) ORDER BY id', [ids]);
    const rows = await p.clients.pool.query('SELECT id, status, provision_run_id, provision_deadline_at FROM workspaces WHERE id = ANY($1::uuid[]) ORDER BY id', [ids]);
    return { tokens: tokens.rows, rows: rows.rows };
  }

  it('the stale tasks it runs re-mint, revoke and change nothing (at least ten stale tasks held)', async () => {
    let staleTasks = 0;
    let staleBegins = 0;
    for (let round = 1; round <= MAX_ROUNDS && staleTasks < 10; round++) {
      const frozen = await startWorkerProcess(p);
      const identity = `${frozen.child.pid}@${hostname()}`;
      try {
        // Freeze it once its polls are at the server: tasks handed to those polls are held, unseen.
        await waitFor('frozen worker polling', () => pollersOf(identity), 30_000, 100);
        frozen.child.kill('SIGSTOP');
        const ids: string[] = [];
        for (let i = 0; i < PROVISIONS_PER_ROUND; i++) {
          const res = await p.api<{ workspace: { id: string } }>('POST', '/workspaces', { name: `F12 R${round} ${i}`, compute: 'docker' });
          expect(res.status).toBe(202);
          ids.push(res.body.workspace.id);
        }
        // The second worker takes each held task over once it times out, and finishes every provision.
        await p.startWorker();
        for (const id of ids) await expect(p.temporal.workflow.getHandle(`provision-${id}`).result()).resolves.toMatchObject({ status: 'online' });
        await waitFor('all online', async () => (await snapshot(ids)).rows.every((r) => r.status === 'online'));
        const before = await snapshot(ids);

        // Which tasks the frozen worker holds: its workflow task starts in the histories (the first
        // task of a run re-runs beginProvision when thawed).
        let held = 0;
        let heldFirst = 0;
        for (const id of ids) {
          const history = await p.temporal.workflow.getHandle(`provision-${id}`).fetchHistory();
          for (const e of history.events ?? []) {
            if (e.workflowTaskStartedEventAttributes?.identity !== identity) continue;
            held++;
            if (Number(e.eventId) === 3) heldFirst++;
          }
        }
        const beginsBefore = alreadyBegun(frozen.logFile);
        frozen.child.kill('SIGCONT');
        await waitFor(`thawed worker re-ran ${heldFirst} stale beginProvision`, async () => alreadyBegun(frozen.logFile) - beginsBefore >= heldFirst, 60_000);
        // Then until its log is quiet: whatever else the stale tasks run has run.
        let size = -1;
        await waitFor('thawed worker quiet', async () => {
          const now = readFileSync(frozen.logFile).length;
          const quiet = now === size;
          size = now;
          return quiet;
        }, 30_000, 1000);

        expect(await snapshot(ids)).toEqual(before);
        for (const id of ids) {
          const token = await readTokenFile(p, id);
          expect((await p.api('POST', '/registry/heartbeat', { workspace_id: id }, token)).status).toBe(200);
        }
        staleTasks += held;
        staleBegins += alreadyBegun(frozen.logFile) - beginsBefore;
        for (const id of ids) await p.api('DELETE', `/workspaces/${id}?confirm=true`);
      } finally {
        if (frozen.child.exitCode === null) frozen.child.kill('SIGCONT');
        await frozen.kill();
        await p.stopWorker();
      }
    }
    expect(staleTasks).toBeGreaterThanOrEqual(10);
    expect(staleBegins).toBeGreaterThan(0);
    summary.cases++;
    summary.faultsSurvived += staleTasks;
  }, 900_000);
});
