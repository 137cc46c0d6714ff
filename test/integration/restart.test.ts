// Restart workflow: fast 202s, coalescing (N concurrent → at most 2 cycles), stop-with-retry schedule
// and LEAK-SUSPECT, external no-op, rebuild_config, 404/410.
import { containerName } from '../../domain/vocabulary';
import { RESTART_HISTORY_BOUND, restartRequestedSignal, restartStateQuery, type RestartResult } from '../../workflows/definitions';
import { replayAndMaybeRecord } from './support/histories';
import { createOnline, removeWorkspaceContainer } from './support/compute';
import { startPlatform, waitFor, type Platform } from './support/platform';
import { withStopFaults } from './support/stop-faults';

let p: Platform;
let failStops = 0; // how many upcoming stop attempts the injected fault makes fail
let stopCalls = 0;
/** Consumes one injected stop failure, if any are left. */
function nextStopFails(): boolean {
  if (failStops === 0) return false;
  failStops--;
  return true;
}

beforeAll(async () => {
  p = await startPlatform({
    wrapCompute: withStopFaults(nextStopFails, () => stopCalls++),
  });
});
afterAll(async () => {
  await p?.close();
});

const onlineWorkspace = (name: string) => createOnline(p, { name, compute: 'docker' });
const cleanup = (id: string) => removeWorkspaceContainer(p, id);

async function restartResult(id: string, runId?: string): Promise<RestartResult> {
  return p.temporal.workflow.getHandle<() => Promise<RestartResult>>(`restart-${id}`, runId).result();
}

async function managedContainersOf(id: string) {
  const list = await p.docker.listContainers({ all: true, filters: { name: [containerName(id)] } });
  return list.filter((c) => c.Names.some((n) => n.replace(/^\//, '') === containerName(id)));
}

describe('restart', () => {
  it('50 concurrent requests: all 202, at most 2 cycles, online with one container', async () => {
    const id = await onlineWorkspace('Restart Many');
    const { rows: before } = await p.clients.pool.query('SELECT id FROM workspace_auth_tokens WHERE workspace_id = $1 AND revoked_at IS NULL', [id]);
    // How fast they answer is bench B3's figure (npm run bench), not a timed assertion here.
    const answers = await Promise.all(Array.from({ length: 50 }, () => p.api<{ workflow_id: string; run_id: string }>('POST', `/workspaces/${id}/restart`, {})));
    expect(answers.every((a) => a.status === 202)).toBe(true);
    expect(new Set(answers.map((a) => a.body.workflow_id))).toEqual(new Set([`restart-${id}`]));
    const runIds = [...new Set(answers.map((a) => a.body.run_id))];

    let cycles = 0;
    for (const runId of runIds) cycles += (await restartResult(id, runId)).cycles;
    expect(cycles).toBeGreaterThanOrEqual(1);
    expect(cycles).toBeLessThanOrEqual(2 * runIds.length);
    expect(runIds).toHaveLength(1); // all 50 arrived while the first run was live
    expect(cycles).toBeLessThanOrEqual(2);

    const ws = (await p.api<{ status: string }>('GET', `/workspaces/${id}`)).body;
    expect(ws.status).toBe('online');
    const containers = await managedContainersOf(id);
    expect(containers).toHaveLength(1);
    expect(containers[0].State).toBe('running');
    // Each cycle minted a fresh token and revoked the old ones.
    const { rows: live } = await p.clients.pool.query('SELECT id FROM workspace_auth_tokens WHERE workspace_id = $1 AND revoked_at IS NULL', [id]);
    expect(live).toHaveLength(1);
    expect(live[0].id).not.toBe(before[0].id);
    const logged = await p.clients.pool.query(`SELECT count(*)::int AS n FROM activity_logs WHERE workspace_id = $1 AND action = 'restart.cycle'`, [id]);
    expect(logged.rows[0].n).toBe(cycles);
    await replayAndMaybeRecord(p.temporal, `restart-${id}`, runIds[0], 'restart-coalesced');
    await cleanup(id);
  });

  it('sequential requests (no overlap) each run one cycle', async () => {
    const id = await onlineWorkspace('Restart Sequential');
    for (let i = 0; i < 2; i++) {
      const res = await p.api<{ run_id: string }>('POST', `/workspaces/${id}/restart`, {});
      expect(res.status).toBe(202);
      expect((await restartResult(id, res.body.run_id)).cycles).toBe(1);
    }
    await cleanup(id);
  });

  it('stop failures follow the 1 s / 2 s / 4 s schedule, then LEAK-SUSPECT, then reprovision anyway', async () => {
    const id = await onlineWorkspace('Restart Leaky');
    failStops = 4; // first attempt + 3 retries all fail
    stopCalls = 0;
    const res = await p.api<{ run_id: string }>('POST', `/workspaces/${id}/restart`, {});
    const result = await restartResult(id, res.body.run_id);
    failStops = 0;
    expect(result).toMatchObject({ cycles: 1, failedCycles: 0, leakSuspects: 1 });
    expect(stopCalls).toBe(4);

    const history = await p.temporal.workflow.getHandle(`restart-${id}`, res.body.run_id).fetchHistory();
    const timers = history.events!.filter((e) => e.timerStartedEventAttributes).map((e) => Number(e.timerStartedEventAttributes!.startToFireTimeout!.seconds));
    expect(timers.slice(0, 3)).toEqual([1, 2, 4]);
    const leak = await p.clients.pool.query(`SELECT details FROM activity_logs WHERE workspace_id = $1 AND action = 'LEAK-SUSPECT'`, [id]);
    expect(leak.rows).toHaveLength(1);
    expect(leak.rows[0].details).toMatchObject({ event: 'LEAK-SUSPECT', workspaceId: id, operation: 'restart', attempts: 4 });
    expect((await p.api<{ status: string }>('GET', `/workspaces/${id}`)).body.status).toBe('online');
    expect(await managedContainersOf(id)).toHaveLength(1);
    await replayAndMaybeRecord(p.temporal, `restart-${id}`, res.body.run_id, 'restart-leak-suspect');
    await cleanup(id);
  });

  it('a restart cancelled during stop retries exits at once without LEAK-SUSPECT', async () => {
    const id = await onlineWorkspace('Restart Cancelled');
    failStops = 100;
    const res = await p.api<{ run_id: string }>('POST', `/workspaces/${id}/restart`, {});
    const handle = p.temporal.workflow.getHandle(`restart-${id}`, res.body.run_id);
    await waitFor('first stop attempt failed', async () => {
      const h = await handle.fetchHistory();
      return h.events!.some((e) => e.timerStartedEventAttributes);
    });
    await handle.cancel();
    await expect(handle.result()).rejects.toThrow();
    failStops = 0;
    const logs = await p.clients.pool.query(`SELECT action FROM activity_logs WHERE workspace_id = $1 AND action IN ('LEAK-SUSPECT', 'restart.stop.cancelled')`, [id]);
    expect(logs.rows.map((r) => r.action)).toEqual(['restart.stop.cancelled']);
    await cleanup(id);
  });

  it('rebuild_config recreates the config volume; a plain restart keeps it', async () => {
    const id = await onlineWorkspace('Restart Rebuild');
    const { tarFiles } = await import('../../activities/tar');
    const hasMarker = async () =>
      p.docker.getContainer(containerName(id)).getArchive({ path: '/configs/marker' }).then(
        () => true,
        (err: { statusCode?: number }) => (err.statusCode === 404 ? false : Promise.reject(err)),
      );
    await p.docker.getContainer(containerName(id)).putArchive(tarFiles({ marker: 'agent state' }), { path: '/configs' });
    expect(await hasMarker()).toBe(true);

    const plain = await p.api<{ run_id: string }>('POST', `/workspaces/${id}/restart`, {});
    expect((await restartResult(id, plain.body.run_id)).cycles).toBe(1);
    expect(await hasMarker()).toBe(true);

    const rebuild = await p.api<{ run_id: string }>('POST', `/workspaces/${id}/restart`, { rebuild_config: true });
    expect((await restartResult(id, rebuild.body.run_id)).cycles).toBe(1);
    expect(await hasMarker()).toBe(false);
    expect((await p.api<{ status: string }>('GET', `/workspaces/${id}`)).body.status).toBe('online');
    await cleanup(id);
  });

  it('1,000 requests in bursts while cycles run: coalesced across continue-as-new, every run\'s history bounded, ends online', async () => {
    const id = await onlineWorkspace('Restart Thousand');
    const workflowId = `restart-${id}`;
    // The loop is started with a low cycles-per-run bound (test-only input; default RESTART_CYCLES_PER_RUN)
    // so that it continues as new several times within the test; every request after this is the API's.
    const kickoff = await p.temporal.workflow.signalWithStart('restartWorkspace', {
      taskQueue: p.taskQueue,
      workflowId,
      args: [{ workspaceId: id, cyclesPerRun: 3 }],
      signal: restartRequestedSignal,
      signalArgs: [{ rebuildConfig: false }],
    });
    const firstRunId = kickoff.signaledRunId;
    const TOTAL = 1000;
    const BURST = 50;
    let sent = 0;
    let bursts = 0;
    while (sent < TOTAL) {
      // A burst lands while a cycle runs and nothing is pending yet: it may add exactly one cycle.
      await waitFor('a cycle is running with nothing pending', async () => {
        const state = await p.temporal.workflow.getHandle(workflowId).query(restartStateQuery).catch(() => null);
        return state && (state.phase === 'stopping' || state.phase === 'reprovisioning') && !state.pending ? true : null;
      }, 120_000, 50);
      const n = Math.min(BURST, TOTAL - sent);
      const answers = await Promise.all(Array.from({ length: n }, () => p.api('POST', `/workspaces/${id}/restart`, {})));
      expect(answers.every((a) => a.status === 202)).toBe(true);
      sent += n;
      bursts++;
    }

    // Follow the continue-as-new chain from the first run to the run that completed.
    const runs: string[] = [];
    for (let runId: string | undefined = firstRunId; runId; ) {
      const handle = p.temporal.workflow.getHandle(workflowId, runId);
      await handle.result().catch(() => undefined); // waits for this run (or the chain after it) to close
      runs.push(runId);
      const events: Array<{ workflowExecutionContinuedAsNewEventAttributes?: { newExecutionRunId?: string | null } | null }> = (await handle.fetchHistory()).events ?? [];
      expect(events.length).toBeLessThan(RESTART_HISTORY_BOUND);
      runId = events[events.length - 1]?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ?? undefined;
    }
    // A burst that arrived just as a loop ended starts a fresh run instead: it is bounded the same way.
    const latest = await p.temporal.workflow.getHandle(workflowId).describe();
    if (!runs.includes(latest.runId)) {
      await p.temporal.workflow.getHandle(workflowId).result();
      const history = await p.temporal.workflow.getHandle(workflowId, latest.runId).fetchHistory();
      expect(history.events!.length).toBeLessThan(RESTART_HISTORY_BOUND);
    }
    expect(runs.length).toBeGreaterThan(1);

    const logged = await p.clients.pool.query(`SELECT count(*)::int AS n FROM activity_logs WHERE workspace_id = $1 AND action IN ('restart.cycle', 'restart.cycle_failed')`, [id]);
    const cycles = logged.rows[0].n as number;
    expect(cycles).toBeGreaterThanOrEqual(bursts);
    expect(cycles).toBeLessThanOrEqual(bursts + 1); // the kickoff's cycle plus at most one per burst
    const failed = await p.clients.pool.query(`SELECT count(*)::int AS n FROM activity_logs WHERE workspace_id = $1 AND action = 'restart.cycle_failed'`, [id]);
    expect(failed.rows[0].n).toBe(0);

    await waitFor('online', async () => ((await p.api<{ status: string }>('GET', `/workspaces/${id}`)).body.status === 'online' ? true : null));
    expect(await managedContainersOf(id)).toHaveLength(1);
    await replayAndMaybeRecord(p.temporal, workflowId, runs[0], 'restart-continued-as-new');
    await replayAndMaybeRecord(p.temporal, workflowId, runs[1], 'restart-continued-from-carry');
    await cleanup(id);
  });

  it('external runtime: 200 no-op, tokens stay valid', async () => {
    const created = await p.api<{ workspace: { id: string }; auth_token: string }>('POST', '/workspaces', { name: 'Ext Restart', runtime: 'external' });
    const { id } = created.body.workspace;
    const res = await p.api<{ status: string }>('POST', `/workspaces/${id}/restart`, {});
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('noop');
    expect((await p.api('POST', '/registry/heartbeat', { workspace_id: id }, created.body.auth_token)).status).toBe(200);
  });

  it('unknown id: 404 without echo; removed: 410', async () => {
    const unknown = await p.api('POST', '/workspaces/00000000-0000-4000-8000-0000000000ff/restart', {});
    expect(unknown.status).toBe(404);
    expect(JSON.stringify(unknown.body)).not.toContain('0000000000ff');
    const created = await p.api<{ workspace: { id: string } }>('POST', '/workspaces', { name: 'Gone', runtime: 'external' });
    await p.clients.pool.query(`UPDATE workspaces SET status = 'removed', removed_at = now() WHERE id = $1`, [created.body.workspace.id]);
    expect((await p.api('POST', `/workspaces/${created.body.workspace.id}/restart`, {})).status).toBe(410);
  });
});
