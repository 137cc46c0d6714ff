// Issue #17, SPEC-ADDENDUM A10: pause and resume of a subtree, hibernate and wake, the idle monitor,
// and their race rules (restart of a paused workspace refused, pause racing a delete). Real API,
// worker, Postgres and Podman; containers and volumes are observed through the Docker API.
import { configVolumeName, containerName, EVENTS, WORKSPACE_ID_LABEL } from '../../domain/vocabulary';
import { join } from 'node:path';
import type { temporal } from '@temporalio/proto';
import { readHistory } from '../../worker/history-file';
import type { PauseBatchInput as BatchInput, PauseTreeResult, ResumeTreeResult } from '../../workflows/definitions';
import { TEST_RUN_LABEL } from '../harness/servers';
import { childInputs, historyStats } from '../support/history-stats';
import { createOnline, readTokenFile, volumeExists } from './support/compute';
import { HISTORIES_DIR, replayAndMaybeRecord } from './support/histories';
import { startPlatform, waitFor, type Platform } from './support/platform';

jest.setTimeout(900_000);

let p: Platform;
beforeAll(async () => {
  p = await startPlatform();
});
afterAll(async () => {
  await p?.close();
});

const BAD_ID = 'not-a-uuid';
const UNKNOWN_ID = '00000000-0000-4000-8000-000000000017';

async function statuses(ids: string[]): Promise<Map<string, string>> {
  const { rows } = await p.clients.pool.query<{ id: string; status: string }>('SELECT id, status FROM workspaces WHERE id = ANY($1::uuid[])', [ids]);
  return new Map(rows.map((r) => [r.id, r.status]));
}

async function allIn(ids: string[], status: string): Promise<boolean> {
  const now = await statuses(ids);
  return ids.every((id) => now.get(id) === status);
}

async function liveTokens(ids: string[]): Promise<number> {
  const { rows } = await p.clients.pool.query('SELECT count(*)::int AS n FROM workspace_auth_tokens WHERE workspace_id = ANY($1::uuid[]) AND revoked_at IS NULL', [ids]);
  return rows[0].n;
}

/** This run's containers of these workspaces (any state), by the workspace-id label. */
async function containersOf(ids: string[]): Promise<Map<string, Array<{ state: string }>>> {
  const wanted = new Set(ids);
  const list = await p.docker.listContainers({ all: true, filters: { label: [`${TEST_RUN_LABEL}=${p.servers.runId}`] } });
  const out = new Map<string, Array<{ state: string }>>();
  for (const c of list) {
    const id = c.Labels[WORKSPACE_ID_LABEL];
    if (!wanted.has(id)) continue;
    out.set(id, [...(out.get(id) ?? []), { state: c.State }]);
  }
  return out;
}

async function volumeCreatedAt(id: string): Promise<string> {
  const info = (await p.docker.getVolume(configVolumeName(id)).inspect()) as unknown as { CreatedAt: string };
  return info.CreatedAt;
}

async function eventCount(type: string, ids: string[]): Promise<number> {
  const { rows } = await p.clients.pool.query('SELECT count(*)::int AS n FROM structure_events WHERE event_type = $1 AND workspace_id = ANY($2::uuid[])', [type, ids]);
  return rows[0].n;
}

/** Creates workspaces through the API (no waiting), answering their ids in order. */
async function createAll(bodies: Array<Record<string, unknown>>): Promise<string[]> {
  const created = await Promise.all(bodies.map((b) => p.api<{ workspace: { id: string } }>('POST', '/workspaces', { compute: 'docker', ...b })));
  for (const c of created) expect(c.status).toBe(202);
  return created.map((c) => c.body.workspace.id);
}

/** Waits until each workspace's provision has ended and it is online. */
async function waitOnline(ids: string[], timeoutMs = 300_000): Promise<void> {
  await waitFor(`${ids.length} workspaces online`, () => allIn(ids, 'online'), timeoutMs, 1000);
  await provisionsDone(ids);
}

/** A provision started after `since` of each workspace ended: the workflow ran to completion. */
async function provisionsDone(ids: string[]): Promise<void> {
  for (const id of ids) await p.temporal.workflow.getHandle(`provision-${id}`).result();
}

/** Members the agent stand-in puts in its next heartbeats (scripts/agent-image/agent.sh REPORT_FILE). */
async function agentReports(id: string, members: string): Promise<void> {
  const exec = await p.docker.getContainer(containerName(id)).exec({
    Cmd: ['sh', '-c', 'printf "%s" "$REPORT" > /tmp/agent-report.new && busybox mv /tmp/agent-report.new /tmp/agent-report'],
    Env: [`REPORT=${members}`],
  });
  await exec.start({ Detach: true });
}

async function recordChild(parentWorkflowId: string, name: string): Promise<void> {
  const history = await p.temporal.workflow.getHandle(parentWorkflowId).fetchHistory();
  const child = history.events!.find((e) => e.childWorkflowExecutionStartedEventAttributes)!.childWorkflowExecutionStartedEventAttributes!;
  await replayAndMaybeRecord(p.temporal, child.workflowExecution!.workflowId!, child.workflowExecution!.runId!, name);
}

/**
 * The bound a paged pause or resume must keep with a page of PAGE ids whatever the tree's size: the
 * largest event carries one page (~40 bytes an id) or a child batch of it, never the tree.
 */
const PAGE = 10;
const PAYLOAD_BOUND = 2_048;
function payloadsBounded(history: temporal.api.history.v1.IHistory): boolean {
  const stats = historyStats(history);
  return stats.maxEventPayloadBytes < PAYLOAD_BOUND && stats.events < 10_000;
}

describe('pause and resume (A10.1-2)', () => {
  it('pauses a 3-level subtree of 30 Docker workspaces and resumes it with the same ids, volumes and one container each', async () => {
    const [root] = await createAll([{ name: 'Pause Root' }]);
    const children = await createAll([0, 1, 2, 3, 4].map((i) => ({ name: `Pause Child ${i}`, parent_id: root })));
    const grandchildren = await createAll(Array.from({ length: 24 }, (_, i) => ({ name: `Pause Grandchild ${i}`, parent_id: children[i % 5] })));
    const all = [root, ...children, ...grandchildren];
    expect(all).toHaveLength(30);
    await provisionsDone(all);
    await waitOnline(all);

    const paused = await p.api<{ status: string; paused_count: number }>('POST', `/workspaces/${root}/pause`);
    expect(paused.status).toBe(200);
    expect(paused.body).toEqual({ status: 'paused', paused_count: 30 });
    // The answer comes once the claim committed: every row is paused and its tokens revoked already.
    expect(await allIn(all, 'paused')).toBe(true);
    expect(await liveTokens(all)).toBe(0);
    expect(await eventCount(EVENTS.workspacePaused, all)).toBe(30);
    const { rows: named } = await p.clients.pool.query(`SELECT payload FROM structure_events WHERE event_type = $1 AND workspace_id = $2`, [EVENTS.workspacePaused, root]);
    expect(named).toEqual([{ payload: { name: 'Pause Root' } }]);

    const result = (await p.temporal.workflow.getHandle(`pause-${root}`).result()) as PauseTreeResult;
    expect(result).toEqual({ rootId: root, pausedCount: 30, stopFailures: [], stopFailureCount: 0 });
    expect((await containersOf(all)).size).toBe(0);
    for (const id of all) expect(await volumeExists(p, id)).toBe(true);
    const volumeDates = new Map(await Promise.all(all.map(async (id) => [id, await volumeCreatedAt(id)] as const)));
    const { rows: urls } = await p.clients.pool.query(`SELECT DISTINCT url FROM workspaces WHERE id = ANY($1::uuid[])`, [all]);
    expect(urls).toEqual([{ url: '' }]);
    await replayAndMaybeRecord(p.temporal, `pause-${root}`, undefined, 'pause-tree');
    await recordChild(`pause-${root}`, 'pause-compute-batch');

    // Paused: not restarted, not provisioned, not paused again; a child is resumed only with its parent.
    expect((await p.api<{ code: string }>('POST', `/workspaces/${children[0]}/restart`, {})).body).toMatchObject({ code: 'WORKSPACE_PAUSED' });
    expect((await p.api('POST', `/workspaces/${children[0]}/restart`, {})).status).toBe(409);
    expect((await p.api<{ code: string }>('POST', `/workspaces/${children[0]}/provision`, {})).status).toBe(409);
    expect((await p.api('POST', `/workspaces/${root}/pause`)).status).toBe(404);
    const childResume = await p.api<{ code: string }>('POST', `/workspaces/${children[1]}/resume`);
    expect(childResume.status).toBe(409);
    expect(childResume.body.code).toBe('PARENT_PAUSED');
    expect(await allIn(all, 'paused')).toBe(true);

    const resumed = await p.api<{ status: string; resumed_count: number }>('POST', `/workspaces/${root}/resume`);
    expect(resumed.status).toBe(200);
    expect(resumed.body).toEqual({ status: 'provisioning', resumed_count: 30 });
    expect((await p.api('POST', `/workspaces/${root}/resume`)).status).toBe(404);
    expect(await p.temporal.workflow.getHandle(`resume-${root}`).result()).toEqual({ rootId: root, resumedCount: 30, started: 30, notStarted: [], notStartedCount: 0 });
    await waitOnline(all);
    await provisionsDone(all);
    const after = await containersOf(all);
    for (const id of all) expect(after.get(id)).toEqual([{ state: 'running' }]);
    for (const id of all) expect(await volumeCreatedAt(id)).toBe(volumeDates.get(id));
    expect(await liveTokens(all)).toBe(30);
    expect(await eventCount(EVENTS.workspaceProvisioning, all)).toBeGreaterThanOrEqual(60);
    await replayAndMaybeRecord(p.temporal, `resume-${root}`, undefined, 'resume-tree');
    await recordChild(`resume-${root}`, 'resume-provision-batch');

    expect((await p.api('DELETE', `/workspaces/${root}?confirm=true`)).status).toBe(200);
    expect((await containersOf(all)).size).toBe(0);
  });

  it('a tree of 250 external and 12 Docker workspaces pauses and resumes a page at a time: counts, batch children, bounded payloads', async () => {
    const created = await p.api<{ workspace: { id: string } }>('POST', '/workspaces', { name: 'Paged Pause Root', runtime: 'external' });
    expect(created.status).toBe(201);
    const root = created.body.workspace.id;
    const docker = await createAll(Array.from({ length: 12 }, (_, i) => ({ name: `Paged Docker ${i}`, parent_id: root })));
    // External rows straight in Postgres (the API would start 250 provisions): 10 under the root, 24 under each.
    const { rows: level1 } = await p.clients.pool.query<{ id: string }>(
      `INSERT INTO workspaces (name, runtime, compute, status, parent_id) SELECT 'ext ' || g, 'external', 'none', 'online', $1 FROM generate_series(1, 10) g RETURNING id`,
      [root],
    );
    const { rows: level2 } = await p.clients.pool.query<{ id: string }>(
      `INSERT INTO workspaces (name, runtime, compute, status, parent_id)
       SELECT 'ext ' || g, 'external', 'none', 'online', parent FROM unnest($1::uuid[]) AS parent, generate_series(1, 24) g RETURNING id`,
      [level1.map((r) => r.id)],
    );
    const external = [root, ...level1.map((r) => r.id), ...level2.map((r) => r.id)];
    const all = [...external, ...docker];
    expect(all).toHaveLength(263);
    await provisionsDone([root, ...docker]);
    await waitOnline(docker);

    const pause = await p.temporal.workflow.start('pauseTree', { taskQueue: p.taskQueue, workflowId: `pause-${root}`, args: [{ rootId: root, pageSize: PAGE }] });
    expect((await pause.result()) as PauseTreeResult).toEqual({ rootId: root, pausedCount: 263, stopFailures: [], stopFailureCount: 0 });
    expect(await allIn(all, 'paused')).toBe(true);
    expect(await liveTokens(all)).toBe(0);
    expect(await eventCount(EVENTS.workspacePaused, all)).toBe(263);
    expect((await containersOf(docker)).size).toBe(0);
    for (const id of docker) expect(await volumeExists(p, id)).toBe(true);
    const pauseHistory = await pause.fetchHistory();
    // 12 compute ids in pages of 10: a child batch per page, each with its page's ids.
    const pauseBatches = childInputs<BatchInput>(pauseHistory).map((i) => i.workspaceIds);
    expect(pauseBatches.map((ids) => ids.length)).toEqual([10, 2]);
    expect(pauseBatches.flat().sort()).toEqual([...docker].sort());
    expect(payloadsBounded(pauseHistory)).toBe(true);
    await replayAndMaybeRecord(p.temporal, pause.workflowId, pause.firstExecutionRunId, 'pause-tree-paged');

    // The id-list pause fails the same bound on a tree of 30: its claim's result listed every row.
    const v1 = readHistory(join(HISTORIES_DIR, 'pause-tree.v1-id-list.json')).history;
    expect(historyStats(v1).maxEventPayloadBytes).toBeGreaterThan(PAYLOAD_BOUND);
    expect(payloadsBounded(v1)).toBe(false);

    const resume = await p.temporal.workflow.start('resumeTree', { taskQueue: p.taskQueue, workflowId: `resume-${root}`, args: [{ rootId: root, pageSize: PAGE }] });
    expect((await resume.result()) as ResumeTreeResult).toEqual({ rootId: root, resumedCount: 263, started: 263, notStarted: [], notStartedCount: 0 });
    const resumeHistory = await resume.fetchHistory();
    const batches = childInputs<BatchInput>(resumeHistory).map((i) => i.workspaceIds);
    expect(batches).toHaveLength(27); // pages of 10, one batch each
    // Parents first across pages: the root, then depth 1 (10 external and 12 Docker), then depth 2.
    const depth1 = new Set([...level1.map((r) => r.id), ...docker]);
    const order = batches.flat();
    expect(order[0]).toBe(root);
    expect(new Set(order.slice(1, 23))).toEqual(depth1);
    expect(order.slice(23).sort()).toEqual(level2.map((r) => r.id).sort());
    expect(payloadsBounded(resumeHistory)).toBe(true);
    await replayAndMaybeRecord(p.temporal, resume.workflowId, resume.firstExecutionRunId, 'resume-tree-paged');

    await waitFor('external workspaces awaiting their agents', () => allIn(external, 'awaiting_agent'), 300_000, 1000);
    await waitOnline(docker);
    const after = await containersOf(docker);
    for (const id of docker) expect(after.get(id)).toEqual([{ state: 'running' }]);
    expect(await liveTokens(all)).toBe(263);
    expect((await p.api('DELETE', `/workspaces/${root}?confirm=true`)).status).toBe(200);
    expect((await containersOf(docker)).size).toBe(0);
  });

  it('a pause racing a delete of a child: both finish, deleted rows removed, the rest paused, no container left', async () => {
    const [root] = await createAll([{ name: 'Race Root' }]);
    const [a, b] = await createAll([{ name: 'Race A', parent_id: root }, { name: 'Race B', parent_id: root }]);
    const [a1] = await createAll([{ name: 'Race A1', parent_id: a }]);
    const all = [root, a, b, a1];
    await provisionsDone(all);
    await waitOnline(all);

    const [pause, del] = await Promise.all([
      p.api<{ status: string; paused_count: number }>('POST', `/workspaces/${root}/pause`),
      p.api<{ status: string; cascade_deleted: number }>('DELETE', `/workspaces/${a}?confirm=true`),
    ]);
    expect(pause.status).toBe(200);
    expect(del.status).toBe(200);
    expect(del.body).toEqual({ status: 'removed', cascade_deleted: 2 });
    expect([2, 4]).toContain(pause.body.paused_count);
    await p.temporal.workflow.getHandle(`pause-${root}`).result();

    const now = await statuses(all);
    expect([now.get(a), now.get(a1)]).toEqual(['removed', 'removed']);
    expect([now.get(root), now.get(b)]).toEqual(['paused', 'paused']);
    expect((await containersOf(all)).size).toBe(0);
    expect(await volumeExists(p, a)).toBe(false);
    expect(await volumeExists(p, a1)).toBe(false);
    expect(await volumeExists(p, b)).toBe(true);
    expect(await liveTokens(all)).toBe(0);
    expect((await p.api('DELETE', `/workspaces/${root}?confirm=true`)).status).toBe(200);
  });

  it('a pause during a provision cancels it: the row stays paused (not failed), the container goes, the volume stays', async () => {
    const res = await p.api<{ workspace: { id: string }; workflow_id: string }>('POST', '/workspaces', {
      name: 'Pause In Flight',
      compute: 'docker',
      provision_timeout_seconds: 120,
      secrets: { AGENT_BEHAVIOUR: 'silent' },
    });
    const id = res.body.workspace.id;
    await waitFor('container started', async () => (await containersOf([id])).size === 1);
    expect((await p.api('POST', `/workspaces/${id}/pause`)).body).toEqual({ status: 'paused', paused_count: 1 });
    await p.temporal.workflow.getHandle(`pause-${id}`).result();
    expect((await p.temporal.workflow.getHandle(res.body.workflow_id).describe()).status.name).toBe('CANCELLED');
    expect((await statuses([id])).get(id)).toBe('paused');
    expect((await containersOf([id])).size).toBe(0);
    expect(await volumeExists(p, id)).toBe(true);
    expect(await liveTokens([id])).toBe(0);
    expect((await p.api('DELETE', `/workspaces/${id}?confirm=true`)).status).toBe(200);
  });

  it('an external workspace is paused (tokens revoked, no tokenless register) and resumes to awaiting_agent', async () => {
    const created = await p.api<{ workspace: { id: string }; auth_token: string }>('POST', '/workspaces', { name: 'Pause Ext', runtime: 'external' });
    expect(created.status).toBe(201);
    const id = created.body.workspace.id;
    await p.temporal.workflow.getHandle(`provision-${id}`).result();
    expect((await p.api('POST', '/registry/register', { workspace_id: id }, created.body.auth_token)).status).toBe(200);

    expect((await p.api('POST', `/workspaces/${id}/pause`)).body).toEqual({ status: 'paused', paused_count: 1 });
    expect(await liveTokens([id])).toBe(0);
    expect((await p.api('POST', '/registry/register', { workspace_id: id }, created.body.auth_token)).status).toBe(401);
    expect((await p.api('POST', '/registry/register', { workspace_id: id }, null)).status).toBe(401);
    expect((await statuses([id])).get(id)).toBe('paused');
    // A token minted while paused does not bring it online either (migration 017).
    const minted = await p.api<{ auth_token: string }>('POST', `/workspaces/${id}/tokens`);
    expect(minted.status).toBe(201);
    const refused = await p.api<{ code: string }>('POST', '/registry/register', { workspace_id: id }, minted.body.auth_token);
    expect([refused.status, refused.body.code]).toEqual([409, 'WORKSPACE_PAUSED']);
    expect((await statuses([id])).get(id)).toBe('paused');
    await p.api('DELETE', `/workspaces/${id}/tokens/${(await p.api<{ tokens: Array<{ id: string }> }>('GET', `/workspaces/${id}/tokens`)).body.tokens[0].id}`);

    // A resume waits for the pause of the same root to finish (its cancel step would cancel the new provision).
    await p.temporal.workflow.getHandle(`pause-${id}`).result();
    expect((await p.api('POST', `/workspaces/${id}/resume`)).body).toEqual({ status: 'provisioning', resumed_count: 1 });
    await waitFor('external awaiting its agent', () => allIn([id], 'awaiting_agent'));
    expect(await liveTokens([id])).toBe(1);
    expect((await p.api('DELETE', `/workspaces/${id}?confirm=true`)).status).toBe(200);
  });
});

describe('hibernate and wake (A10.3-5)', () => {
  it('refuses while the agent reports active tasks, hibernates with force keeping the volume, wakes it online', async () => {
    const id = await createOnline(p, { name: 'Hib Busy', compute: 'docker' });
    await agentReports(id, '"active_tasks":2,"error_rate":0,"runtime_state":""');
    await waitFor('active tasks reported', async () => (await p.api<{ heartbeat: { active_tasks: number } }>('GET', `/workspaces/${id}`)).body.heartbeat.active_tasks === 2);

    const busy = await p.api<{ code: string; active_tasks: number }>('POST', `/workspaces/${id}/hibernate`);
    expect(busy.status).toBe(409);
    expect(busy.body).toMatchObject({ code: 'ACTIVE_TASKS', active_tasks: 2, error: expect.any(String) });
    expect((await p.api('POST', `/workspaces/${id}/hibernate?force=maybe`)).status).toBe(400);
    expect((await statuses([id])).get(id)).toBe('online');
    const volumeDate = await volumeCreatedAt(id);

    const forced = await p.api('POST', `/workspaces/${id}/hibernate?force=true`);
    expect(forced.status).toBe(200);
    expect(forced.body).toEqual({ status: 'hibernated' });
    const { rows } = await p.clients.pool.query('SELECT status, url, active_tasks FROM workspaces WHERE id = $1', [id]);
    expect(rows[0]).toEqual({ status: 'hibernated', url: '', active_tasks: 0 });
    expect((await containersOf([id])).size).toBe(0);
    expect(await volumeCreatedAt(id)).toBe(volumeDate);
    expect(await liveTokens([id])).toBe(0);
    expect(await eventCount(EVENTS.workspaceHibernated, [id])).toBe(1);
    await replayAndMaybeRecord(p.temporal, `hibernate-${id}`, undefined, 'hibernate-workspace');

    const restart = await p.api<{ code: string; error: string }>('POST', `/workspaces/${id}/restart`, {});
    expect(restart.status).toBe(409);
    expect(restart.body.code).toBe('WORKSPACE_HIBERNATED');
    expect(restart.body.error).toContain('/wake');
    expect((await p.api('POST', `/workspaces/${id}/hibernate`)).status).toBe(404);
    expect((await p.api('POST', `/workspaces/${id}/pause`)).status).toBe(200);
    expect((await p.api('POST', `/workspaces/${id}/wake`)).status).toBe(404);
    await p.temporal.workflow.getHandle(`pause-${id}`).result();
    expect((await p.api('POST', `/workspaces/${id}/resume`)).status).toBe(200);
    await waitOnline([id]);
    expect((await p.api('POST', `/workspaces/${id}/hibernate`)).status).toBe(200);

    const woken = await p.api('POST', `/workspaces/${id}/wake`);
    expect(woken.status).toBe(200);
    expect(woken.body).toEqual({ status: 'provisioning' });
    expect((await p.api('POST', `/workspaces/${id}/wake`)).status).toBe(404);
    await waitOnline([id]);
    expect((await containersOf([id])).get(id)).toEqual([{ state: 'running' }]);
    expect(await volumeCreatedAt(id)).toBe(volumeDate);

    // POST /provision of a hibernated workspace wakes it too.
    expect((await p.api('POST', `/workspaces/${id}/hibernate`)).status).toBe(200);
    expect((await p.api('POST', `/workspaces/${id}/provision`, {})).status).toBe(202);
    await waitOnline([id]);
    expect((await p.api('DELETE', `/workspaces/${id}?confirm=true`)).status).toBe(200);
  });

  it('the idle monitor hibernates an opted-in workspace idle (no active task) for longer than its idle minutes', async () => {
    const idle = await createOnline(p, { name: 'Hib Idle', compute: 'docker', hibernation_idle_minutes: 1 });
    const fresh = await createOnline(p, { name: 'Hib Fresh', compute: 'docker', hibernation_idle_minutes: 1 });
    const optedOut = await createOnline(p, { name: 'Hib Opted Out', compute: 'docker' });
    expect((await p.api<{ hibernation_idle_minutes: number }>('GET', `/workspaces/${idle}`)).body.hibernation_idle_minutes).toBe(1);
    expect((await p.api<{ hibernation_idle_minutes: number }>('GET', `/workspaces/${optedOut}`)).body.hibernation_idle_minutes).toBe(0);
    expect((await p.api('PATCH', `/workspaces/${idle}`, { hibernation_idle_minutes: 525_601 })).status).toBe(400);
    expect((await p.api('PATCH', `/workspaces/${idle}`, { hibernation_idle_minutes: -1 })).status).toBe(400);
    expect((await p.api('PATCH', `/workspaces/${idle}`, { hibernation_idle_minutes: 1.5 })).status).toBe(400);
    expect((await p.api('PATCH', `/workspaces/${idle}`, { hibernation_idle_minutes: 3 })).status).toBe(200);
    expect((await p.api<{ hibernation_idle_minutes: number }>('GET', `/workspaces/${idle}`)).body.hibernation_idle_minutes).toBe(3);

    // The idle agent keeps heartbeating with no task; it has been idle for 10 minutes (aged here), as has
    // the opted-out one; the fresh one became idle just now. A busy one reports a task: not idle.
    const busy = await createOnline(p, { name: 'Hib Busy', compute: 'docker', hibernation_idle_minutes: 1 });
    await p.clients.pool.query(`UPDATE workspaces SET idle_since = now() - interval '10 minutes' WHERE id = ANY($1::uuid[])`, [[idle, optedOut, busy]]);
    const busyToken = await readTokenFile(p, busy);
    expect((await p.api('POST', '/registry/heartbeat', { workspace_id: busy, active_tasks: 1 }, busyToken)).status).toBe(200);
    // Work resets the idle clock: cleared by the busy report (or restarted by the agent's next idle beat).
    const { rows: marks } = await p.clients.pool.query(
      `SELECT id, idle_since IS NULL OR idle_since > now() - interval '1 minute' AS recent FROM workspaces WHERE id = ANY($1::uuid[])`,
      [[idle, fresh, busy]],
    );
    expect(Object.fromEntries(marks.map((r) => [r.id, r.recent]))).toEqual({ [idle]: false, [fresh]: true, [busy]: true });
    const pass = `idle-monitor-test-${Date.now()}`;
    const result = (await p.temporal.workflow.execute('idleMonitor', { taskQueue: p.taskQueue, workflowId: pass, args: [{}] })) as { hibernated: string[] };
    expect(result.hibernated).toContain(idle);
    expect(result.hibernated).not.toContain(fresh);
    expect(result.hibernated).not.toContain(optedOut);
    expect(result.hibernated).not.toContain(busy);
    const now = await statuses([idle, fresh, optedOut]);
    expect([now.get(idle), now.get(fresh), now.get(optedOut)]).toEqual(['hibernated', 'online', 'online']);
    expect((await containersOf([idle])).size).toBe(0);
    expect(await volumeExists(p, idle)).toBe(true);
    await replayAndMaybeRecord(p.temporal, pass, undefined, 'idle-monitor');
    for (const id of [idle, fresh, optedOut, busy]) expect((await p.api('DELETE', `/workspaces/${id}?confirm=true`)).status).toBe(200);
  });
});

describe('bad input (A10)', () => {
  it.each(['pause', 'resume', 'hibernate', 'wake'])('%s: bad UUID 400, unknown id 404', async (action) => {
    const bad = await p.api<{ code: string }>('POST', `/workspaces/${BAD_ID}/${action}`);
    expect(bad.status).toBe(400);
    expect(bad.body.code).toBe('VALIDATION_FAILED');
    expect(JSON.stringify(bad.body)).not.toContain(BAD_ID);
    expect((await p.api('POST', `/workspaces/${UNKNOWN_ID}/${action}`)).status).toBe(404);
  });

  it('force=maybe is a 400 with the field named; the routes are admin-guarded', async () => {
    const res = await p.api<{ details: Array<{ field: string }> }>('POST', `/workspaces/${UNKNOWN_ID}/hibernate?force=maybe`);
    expect(res.status).toBe(400);
    expect(res.body.details[0].field).toBe('querystring.force');
    expect((await p.api('POST', `/workspaces/${UNKNOWN_ID}/pause`, undefined, null)).status).toBe(401);
    expect((await p.api('POST', `/workspaces/${UNKNOWN_ID}/resume`, undefined, 'wrong-token')).status).toBe(401);
  });
});
