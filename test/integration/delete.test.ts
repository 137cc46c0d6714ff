// Delete cascade and orphan sweeper against real Docker (Podman), EC2 (moto) and Postgres.
import { randomUUID } from 'node:crypto';
import { configVolumeName, containerName, MANAGED_LABEL, PROVISION_RUN_LABEL } from '../../domain/vocabulary';
import { TEST_RUN_LABEL } from '../harness/servers';
import { deleteStateQuery, type DeleteTreeResult } from '../../workflows/definitions';
import { historyStats } from '../support/history-stats';
import { containerExists, createOnline, instancesOf, readTokenFile, volumeExists } from './support/compute';
import { replayAndMaybeRecord } from './support/histories';
import { startPlatform, waitFor, type Platform } from './support/platform';
import { withStopFaults } from './support/stop-faults';

const failingStops = new Set<string>();
let p: Platform;
beforeAll(async () => {
  p = await startPlatform({ wrapCompute: withStopFaults((id) => failingStops.has(id)) });
});
afterAll(async () => {
  await p?.close();
});

async function row(id: string) {
  const { rows } = await p.clients.pool.query('SELECT status, removed_at FROM workspaces WHERE id = $1', [id]);
  return rows[0] as { status: string; removed_at: Date | null } | undefined;
}

async function liveTokens(ids: string[]): Promise<number> {
  const { rows } = await p.clients.pool.query('SELECT count(*)::int AS n FROM workspace_auth_tokens WHERE workspace_id = ANY($1::uuid[]) AND revoked_at IS NULL', [ids]);
  return rows[0].n;
}

async function sweep(dryRun = false) {
  const handle = await p.temporal.workflow.start('orphanSweep', { taskQueue: p.taskQueue, workflowId: `sweep-${Date.now()}`, args: [{ dryRun }] });
  const result = (await handle.result()) as { findings: Array<{ kind: string; id: string; action: string }>; skipped: string[] };
  await replayAndMaybeRecord(p.temporal, handle.workflowId, handle.firstExecutionRunId, 'orphan-sweep');
  return result;
}

describe('delete cascade', () => {
  it('removes a depth-3 tree of Docker, EC2 and external workspaces: rows, tokens, containers, volumes, instances', async () => {
    const root = await createOnline(p, { name: 'Del Root', compute: 'docker' });
    const mid = await createOnline(p, { name: 'Del Mid', compute: 'ec2', parent_id: root });
    const leaf = await createOnline(p, { name: 'Del Leaf', compute: 'docker', parent_id: mid });
    const ext = await p.api<{ workspace: { id: string } }>('POST', '/workspaces', { name: 'Del Ext', runtime: 'external', parent_id: root });
    const all = [root, mid, leaf, ext.body.workspace.id];
    await p.clients.pool.query(`INSERT INTO canvas_layouts (workspace_id, x, y) SELECT unnest($1::uuid[]), 1, 2`, [all]);
    await p.clients.pool.query(`INSERT INTO workspace_schedules (workspace_id, cron, prompt) VALUES ($1, '* * * * *', 'hi')`, [leaf]);

    const gate = await p.api<{ code: string; cascade_count: number }>('DELETE', `/workspaces/${root}`);
    expect(gate.status).toBe(409);
    expect(gate.body).toMatchObject({ code: 'CONFIRM_REQUIRED', cascade_count: 4 });
    expect((await row(root))?.status).toBe('online');

    const res = await p.api('DELETE', `/workspaces/${root}?confirm=true`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'removed', cascade_deleted: 4 });

    for (const id of all) expect((await row(id))?.status).toBe('removed');
    expect(await liveTokens(all)).toBe(0);
    for (const id of [root, leaf]) {
      expect(await containerExists(p, id)).toBe(false);
      expect(await volumeExists(p, id)).toBe(false);
    }
    const instances = await instancesOf(p, mid);
    expect(instances.map((i) => i.State?.Name).every((s) => s === 'terminated' || s === 'shutting-down')).toBe(true);
    const layouts = await p.clients.pool.query('SELECT count(*)::int AS n FROM canvas_layouts WHERE workspace_id = ANY($1::uuid[])', [all]);
    expect(layouts.rows[0].n).toBe(0);
    const schedules = await p.clients.pool.query('SELECT enabled FROM workspace_schedules WHERE workspace_id = $1', [leaf]);
    expect(schedules.rows).toEqual([{ enabled: false }]);
    const events = await p.clients.pool.query(`SELECT count(*)::int AS n FROM structure_events WHERE event_type = 'WORKSPACE_REMOVED' AND workspace_id = ANY($1::uuid[])`, [all]);
    expect(events.rows[0].n).toBe(4);

    // 410 for a removed workspace; include_removed reads it; listing hides it.
    const gone = await p.api<{ error: string; id: string; removed_at: string; hint: string }>('GET', `/workspaces/${root}`);
    expect(gone.status).toBe(410);
    expect(gone.body).toMatchObject({ error: 'workspace removed', id: root, removed_at: expect.any(String), hint: expect.any(String) });
    expect((await p.api('GET', `/workspaces/${root}?include_removed=true`)).status).toBe(200);
    const listed = await p.api<{ workspaces: Array<{ id: string }> }>('GET', '/workspaces?limit=1000');
    expect(listed.body.workspaces.map((w) => w.id)).not.toContain(root);
    await replayAndMaybeRecord(p.temporal, `delete-${root}`, undefined, 'delete-tree-mixed');
    const parentHistory = await p.temporal.workflow.getHandle(`delete-${root}`).fetchHistory();
    const child = parentHistory.events!.find((e) => e.childWorkflowExecutionStartedEventAttributes)!.childWorkflowExecutionStartedEventAttributes!;
    await replayAndMaybeRecord(p.temporal, child.workflowExecution!.workflowId!, child.workflowExecution!.runId!, 'delete-compute-batch');

    // Re-running the cascade is harmless and reports the same set.
    expect((await p.api('DELETE', `/workspaces/${root}?confirm=true`)).body).toEqual({ status: 'removed', cascade_deleted: 4 });
  });

  it('a delete during provisioning cancels it: no container survives, status stays removed, late agents refused', async () => {
    const res = await p.api<{ workspace: { id: string }; workflow_id: string }>('POST', '/workspaces', {
      name: 'Del In Flight',
      compute: 'docker',
      provision_timeout_seconds: 120,
      secrets: { AGENT_BEHAVIOUR: 'silent' },
    });
    const id = res.body.workspace.id;
    await waitFor('container started', () => containerExists(p, id));
    const { rows } = await p.clients.pool.query('SELECT token_hash FROM workspace_auth_tokens WHERE workspace_id = $1', [id]);
    expect(rows).toHaveLength(1);
    const token = await readTokenFile(p, id);

    const del = await p.api('DELETE', `/workspaces/${id}?confirm=true`);
    expect(del.body).toEqual({ status: 'removed', cascade_deleted: 1 });
    expect(await containerExists(p, id)).toBe(false);
    expect(await volumeExists(p, id)).toBe(false);
    const provision = await p.temporal.workflow.getHandle(res.body.workflow_id).describe();
    expect(provision.status.name).toBe('CANCELLED');
    expect((await row(id))?.status).toBe('removed');
    expect((await p.api('POST', '/registry/register', { workspace_id: id }, token)).status).toBe(401);
    expect((await p.api('POST', '/registry/heartbeat', { workspace_id: id }, token)).status).toBe(401);
    expect((await row(id))?.status).toBe('removed');
  });

  it('a stop that keeps failing: 500 lists it, the volume is kept, and the sweeper finishes the job later', async () => {
    const id = await createOnline(p, { name: 'Del Stuck', compute: 'docker' });
    failingStops.add(id);
    const res = await p.api<{ error: string; code: string; removed_count: number; stop_failures: Array<{ workspace_id: string; error: string }> }>(
      'DELETE',
      `/workspaces/${id}?confirm=true`,
    );
    expect(res.status).toBe(500);
    expect(res.body).toMatchObject({ code: 'STOP_FAILED', removed_count: 1, stop_failures: [{ workspace_id: id, error: expect.any(String) }] });
    expect((await row(id))?.status).toBe('removed');
    expect(await containerExists(p, id)).toBe(true);
    expect(await volumeExists(p, id)).toBe(true);

    // While the engine refuses the removal (here for real: another container shares its network
    // namespace, and Podman will not remove a container others depend on), the sweeper reports the
    // failure, never `removed`, and keeps the volume.
    failingStops.delete(id);
    const containerId = (await p.docker.getContainer(containerName(id)).inspect()).Id;
    const dependent = await p.docker.createContainer({
      Image: p.servers.agentImage,
      Cmd: ['/bin/sh', '-c', 'sleep 600'],
      Labels: { [TEST_RUN_LABEL]: p.servers.runId },
      HostConfig: { NetworkMode: `container:${containerId}` },
    });
    try {
      const first = await sweep();
      expect(first.findings).toEqual(expect.arrayContaining([expect.objectContaining({ kind: 'container', id: containerId, action: 'remove_failed' })]));
      expect(first.findings.some((f) => f.id === containerId && f.action === 'removed')).toBe(false);
      expect(await containerExists(p, id)).toBe(true);
      expect(await volumeExists(p, id)).toBe(true);
    } finally {
      await dependent.remove({ force: true });
    }

    const second = await sweep();
    expect(second.findings).toEqual(expect.arrayContaining([expect.objectContaining({ kind: 'container', id: containerId, action: 'removed' })]));
    expect(await containerExists(p, id)).toBe(false);
    expect(await volumeExists(p, id)).toBe(false);
  });

  it('purge hard-deletes exactly the touched rows; unknown ids 404 without echo', async () => {
    const ext = await p.api<{ workspace: { id: string } }>('POST', '/workspaces', { name: 'Purge Me', runtime: 'external' });
    const child = await p.api<{ workspace: { id: string } }>('POST', '/workspaces', { name: 'Purge Child', runtime: 'external', parent_id: ext.body.workspace.id });
    const bystander = await p.api<{ workspace: { id: string } }>('POST', '/workspaces', { name: 'Bystander', runtime: 'external' });
    const res = await p.api('DELETE', `/workspaces/${ext.body.workspace.id}?confirm=true&purge=true`);
    expect(res.body).toEqual({ status: 'removed', cascade_deleted: 2 });
    expect(await row(ext.body.workspace.id)).toBeUndefined();
    expect(await row(child.body.workspace.id)).toBeUndefined();
    expect((await row(bystander.body.workspace.id))?.status).toBe('awaiting_agent');
    expect((await p.api('GET', `/workspaces/${ext.body.workspace.id}`)).status).toBe(404);
    const unknown = await p.api('DELETE', '/workspaces/00000000-0000-4000-8000-0000000000ee?confirm=true');
    expect(unknown.status).toBe(404);
    expect(JSON.stringify(unknown.body)).not.toContain('0000000000ee');
  });

  it('a 1,000-workspace tree is deleted with bounded history and progress visible through a query', async () => {
    const { rows } = await p.clients.pool.query<{ id: string }>(
      `INSERT INTO workspaces (name, runtime, compute, status) VALUES ('Big Root', 'external', 'none', 'online') RETURNING id`,
    );
    const rootId = rows[0].id;
    // Depth 4: 1 root, 9 level-1, 90 level-2, 900 level-3 (1,000 in all).
    let parents = [rootId];
    for (const fanout of [9, 10, 10]) {
      const next: string[] = [];
      for (const parent of parents) {
        const inserted = await p.clients.pool.query<{ id: string }>(
          `INSERT INTO workspaces (name, runtime, compute, status, parent_id)
           SELECT 'n' || g, 'external', 'none', 'online', $1 FROM generate_series(1, $2) g RETURNING id`,
          [parent, fanout],
        );
        next.push(...inserted.rows.map((r) => r.id));
      }
      parents = next;
    }
    const res = await p.api('DELETE', `/workspaces/${rootId}?confirm=true`);
    expect(res.body).toEqual({ status: 'removed', cascade_deleted: 1000 });
    const history = await p.temporal.workflow.getHandle(`delete-${rootId}`).fetchHistory();
    expect(history.events!.length).toBeLessThan(60);
    const handle = p.temporal.workflow.getHandle(`delete-${rootId}`);
    const result = (await handle.result()) as DeleteTreeResult;
    expect(result).toEqual({ rootId, removedCount: 1000, stopFailures: [], stopFailureCount: 0, purged: 0 });
    expect(await handle.query(deleteStateQuery)).toMatchObject({ phase: 'done', total: 1000, computeTotal: 0, stopFailures: 0 });
    // Ids stay in Postgres: a 1,000-id list would be ~40 KB in one event.
    expect(historyStats(history).maxEventPayloadBytes).toBeLessThan(2_048);
  });

  it('payloads stay bounded whatever the tree: counts travel, compute ids come a page at a time, purge keeps what did not stop', async () => {
    const { rows } = await p.clients.pool.query<{ id: string }>(
      `INSERT INTO workspaces (name, runtime, compute, status) VALUES ('Paged Root', 'external', 'none', 'online') RETURNING id`,
    );
    const rootId = rows[0].id;
    await p.clients.pool.query(
      `INSERT INTO workspaces (name, runtime, compute, status, parent_id) SELECT 'ext ' || g, 'external', 'none', 'online', $1 FROM generate_series(1, 300) g`,
      [rootId],
    );
    // Docker rows without containers: a stop finds nothing to stop, which is enough to page them.
    const docker = await p.clients.pool.query<{ id: string }>(
      `INSERT INTO workspaces (name, runtime, compute, status, parent_id)
       SELECT 'dock ' || g, 'claude-code', 'docker', 'online', $1 FROM generate_series(1, 45) g RETURNING id`,
      [rootId],
    );
    const stuck = docker.rows.slice(0, 2).map((r) => r.id).sort();
    for (const id of stuck) failingStops.add(id);
    try {
      const handle = await p.temporal.workflow.start('deleteWorkspaceTree', {
        taskQueue: p.taskQueue,
        workflowId: `delete-${rootId}`,
        args: [{ rootId, purge: true, computePageSize: 20 }],
      });
      const result = (await handle.result()) as DeleteTreeResult;
      expect(result).toEqual({
        rootId,
        removedCount: 346,
        stopFailures: stuck.map((id) => ({ workspace_id: id, error: expect.any(String) })),
        stopFailureCount: 2,
        purged: 344,
      });
      expect(await handle.query(deleteStateQuery)).toMatchObject({ phase: 'done', total: 346, computeTotal: 45, computeDone: 45, stopFailures: 2 });
      // What did not stop stays (removed, detached from the purged root) for the sweeper.
      const left = await p.clients.pool.query<{ id: string; status: string; parent_id: string | null }>(
        `SELECT id, status, parent_id FROM workspaces WHERE id = $1 OR parent_id = $1 OR id = ANY($2::uuid[]) ORDER BY id`,
        [rootId, docker.rows.map((r) => r.id)],
      );
      expect(left.rows).toEqual(stuck.map((id) => ({ id, status: 'removed', parent_id: null })));
      const events = await p.clients.pool.query(`SELECT count(*)::int AS n FROM structure_events WHERE event_type = 'WORKSPACE_REMOVED' AND dedupe_key LIKE $1`, [
        `${handle.firstExecutionRunId}:removed:%`,
      ]);
      expect(events.rows[0].n).toBe(346);

      const history = await handle.fetchHistory();
      const stats = historyStats(history);
      // The id-list cascade put all 346 ids (~14 KB) in one event; now a page of 20 is the most.
      expect(stats.maxEventPayloadBytes).toBeLessThan(2_048);
      const children = history.events!.filter((e) => e.startChildWorkflowExecutionInitiatedEventAttributes).length;
      expect(children).toBe(3); // pages of 20, 20 and 5
      await replayAndMaybeRecord(p.temporal, handle.workflowId, handle.firstExecutionRunId, 'delete-tree-paged');
    } finally {
      for (const id of stuck) failingStops.delete(id);
    }
  });
});

describe('orphan sweeper', () => {
  it('its Temporal Schedule is created idempotently and triggers a pass at boot', async () => {
    const { ensureSweeperSchedule } = await import('../../worker/sweeper-schedule');
    expect(await ensureSweeperSchedule(p.temporal, p.taskQueue, { triggerNow: false })).toBe('created');
    expect(await ensureSweeperSchedule(p.temporal, p.taskQueue, { triggerNow: true })).toBe('exists');
    const handle = p.temporal.schedule.getHandle('orphan-sweeper');
    try {
      const description = await handle.describe();
      expect(description.spec.intervals?.[0]?.every).toBe(60_000);
      const actions = await waitFor('boot pass ran', async () => {
        const recent = (await handle.describe()).info.recentActions;
        return recent.length > 0 ? recent : null;
      });
      // Let the pass finish: a sweep still running would remove the next test's orphans under its feet.
      for (const a of actions) await p.temporal.workflow.getHandle(a.action.workflow.workflowId, a.action.workflow.firstExecutionRunId).result().catch(() => undefined);
    } finally {
      await handle.delete();
    }
  });

  it('removes managed containers with no row, never touches unlabelled ones, keeps tokens inside the grace period', async () => {
    const runLabel = { [TEST_RUN_LABEL]: p.servers.runId };
    const ghostId = '11111111-2222-4333-8444-555555555555';
    const ghost = await p.docker.createContainer({
      name: containerName(ghostId),
      Image: p.servers.agentImage,
      Env: ['AGENT_BEHAVIOUR=silent'],
      Labels: { [MANAGED_LABEL]: 'true', 'molecule.workspace.id': ghostId, ...runLabel },
      HostConfig: { NetworkMode: 'host' },
    });
    await ghost.start().catch(() => undefined); // the agent exits at once without a token file; that's fine
    const bystander = await p.docker.createContainer({
      name: `not-ours-${p.servers.runId}`,
      Image: p.servers.agentImage,
      Labels: { ...runLabel },
      HostConfig: { NetworkMode: 'host' },
    });
    const volume = await p.docker.createVolume({ Name: configVolumeName(ghostId), Labels: { [MANAGED_LABEL]: 'true', 'molecule.workspace.id': ghostId, ...runLabel } });

    // Tokens: one fresh (inside grace) and one idle for 10 minutes, both without a container.
    const fresh = await p.clients.store.createWorkspace({ name: 'Fresh Token', role: '', tier: 1, runtime: 'codex', compute: 'docker', parentId: null, deliveryMode: 'push', updateTier: 'production', model: null, budgetLimit: null, maxConcurrentTasks: 1, provisionTimeoutSeconds: null });
    const idle = await p.clients.store.createWorkspace({ name: 'Idle Token', role: '', tier: 1, runtime: 'codex', compute: 'docker', parentId: null, deliveryMode: 'push', updateTier: 'production', model: null, budgetLimit: null, maxConcurrentTasks: 1, provisionTimeoutSeconds: null });
    await p.clients.store.mintCredentials(fresh.id);
    await p.clients.store.mintCredentials(idle.id);
    await p.clients.pool.query(`UPDATE workspace_auth_tokens SET created_at = now() - interval '10 minutes' WHERE workspace_id = $1`, [idle.id]);
    await p.clients.pool.query(`UPDATE workspaces SET status = 'failed' WHERE id = ANY($1::uuid[])`, [[fresh.id, idle.id]]);

    const dry = await p.api<{ findings: Array<{ kind: string; id: string; action: string }> }>('GET', '/admin/orphans');
    expect(dry.status).toBe(200);
    expect(dry.body.findings).toEqual(expect.arrayContaining([expect.objectContaining({ kind: 'container', id: ghost.id, action: 'would_remove' })]));
    expect(await p.docker.getContainer(containerName(ghostId)).inspect().then(() => true)).toBe(true);

    const report = await sweep();
    const kinds = report.findings.map((f) => `${f.kind}:${f.id}:${f.action}`);
    expect(kinds).toEqual(expect.arrayContaining([`container:${ghost.id}:removed`, `volume:${volume.name}:removed`, `token:${idle.id}:revoked`]));
    expect(kinds.some((k) => k.includes(fresh.id))).toBe(false);
    await expect(p.docker.getContainer(containerName(ghostId)).inspect()).rejects.toMatchObject({ statusCode: 404 });
    expect((await bystander.inspect()).Id).toBeTruthy();
    expect(await liveTokens([fresh.id])).toBe(1);
    expect(await liveTokens([idle.id])).toBe(0);
    await bystander.remove({ force: true });
  });

  it('fails a provision stuck past its deadline plus grace, with its event, and leaves a fresh one alone', async () => {
    const base = { role: '', tier: 1, runtime: 'codex' as const, compute: 'docker' as const, parentId: null, deliveryMode: 'push' as const, updateTier: 'production' as const, model: null, budgetLimit: null, maxConcurrentTasks: 1 };
    const stuck = await p.clients.store.createWorkspace({ ...base, name: 'Stuck Provision', provisionTimeoutSeconds: 60 });
    const fresh = await p.clients.store.createWorkspace({ ...base, name: 'Fresh Provision', provisionTimeoutSeconds: 60 });
    await p.clients.pool.query(`UPDATE workspaces SET status = 'provisioning', provision_started_at = now() - interval '10 minutes' WHERE id = $1`, [stuck.id]);
    await p.clients.pool.query(`UPDATE workspaces SET status = 'provisioning', provision_started_at = now() WHERE id = $1`, [fresh.id]);

    const report = await sweep();
    expect(report.findings).toEqual(expect.arrayContaining([expect.objectContaining({ kind: 'stuck_provision', id: stuck.id, action: 'failed' })]));
    expect(report.findings.some((f) => f.id === fresh.id)).toBe(false);
    const rows = await p.clients.pool.query<{ id: string; status: string; last_sample_error: string | null }>(
      'SELECT id, status, last_sample_error FROM workspaces WHERE id = ANY($1::uuid[])',
      [[stuck.id, fresh.id]],
    );
    const byId = new Map(rows.rows.map((r) => [r.id, r]));
    expect(byId.get(stuck.id)).toMatchObject({ status: 'failed', last_sample_error: expect.stringContaining('60') });
    expect(byId.get(fresh.id)?.status).toBe('provisioning');
    const events = await p.clients.pool.query<{ workspace_id: string; payload: { timeout_secs: number } }>(
      `SELECT workspace_id, payload FROM structure_events WHERE event_type = 'WORKSPACE_PROVISION_FAILED' AND workspace_id = ANY($1::uuid[])`,
      [[stuck.id, fresh.id]],
    );
    expect(events.rows).toEqual([{ workspace_id: stuck.id, payload: expect.objectContaining({ timeout_secs: 60 }) }]);
  });

  it('a Docker daemon error skips the container and token passes instead of revoking every token', async () => {
    const { createOrphanSweeper } = await import('../../activities/orphan-sweeper');
    const { createDockerCompute } = await import('../../activities/docker-compute');
    const Docker = (await import('dockerode')).default;
    const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };
    const deadDocker = createDockerCompute({ docker: new Docker({ socketPath: '/nonexistent/podman.sock' }), network: 'host', log: silent });
    const ws = await p.clients.store.createWorkspace({ name: 'Keep Token', role: '', tier: 1, runtime: 'codex', compute: 'docker', parentId: null, deliveryMode: 'push', updateTier: 'production', model: null, budgetLimit: null, maxConcurrentTasks: 1, provisionTimeoutSeconds: null });
    await p.clients.store.mintCredentials(ws.id);
    await p.clients.pool.query(`UPDATE workspace_auth_tokens SET created_at = now() - interval '10 minutes' WHERE workspace_id = $1`, [ws.id]);
    const sweeper = createOrphanSweeper({ store: p.clients.store, compute: { docker: deadDocker }, config: p.config, log: silent });
    const report = await sweeper.sweep({ dryRun: false });
    expect(report.skipped.join(' ')).toMatch(/docker engine unavailable/);
    expect(report.findings.filter((f) => f.kind === 'token')).toEqual([]);
    expect(await liveTokens([ws.id])).toBe(1);
  });
});

const silentLog = { info: () => undefined, warn: () => undefined, error: () => undefined };
const rowBase = { role: '', tier: 1, runtime: 'codex' as const, parentId: null, deliveryMode: 'push' as const, updateTier: 'production' as const, model: null, budgetLimit: null, maxConcurrentTasks: 1, provisionTimeoutSeconds: null };

async function newRow(name: string, compute: 'docker' | 'ec2' | 'none', status: string): Promise<string> {
  const ws = await p.clients.store.createWorkspace({ ...rowBase, name, compute });
  await p.clients.pool.query('UPDATE workspaces SET status = $2 WHERE id = $1', [ws.id, status]);
  return ws.id;
}

/** A running container and volume under the older naming scheme (`ws-<first 12 chars>`), labelled for this run. */
async function legacyContainer(workspaceId: string, name = `ws-${workspaceId.slice(0, 12)}`, runId?: string): Promise<{ id: string; volume: string }> {
  const labels = { [TEST_RUN_LABEL]: p.servers.runId, [MANAGED_LABEL]: 'true', 'molecule.workspace.id': workspaceId };
  await p.docker.createVolume({ Name: `${name}-configs`, Labels: labels });
  const c = await p.docker.createContainer({
    name,
    Image: p.servers.agentImage,
    Cmd: ['/bin/sh', '-c', 'trap "exit 0" TERM; while true; do sleep 1; done'],
    Labels: runId ? { ...labels, [PROVISION_RUN_LABEL]: runId } : labels,
    HostConfig: { Binds: [`${name}-configs:/configs`], NetworkMode: 'host' },
  });
  await c.start();
  return { id: c.id, volume: `${name}-configs` };
}

async function engineKnows(kind: 'container' | 'volume', id: string): Promise<boolean> {
  const target = kind === 'container' ? p.docker.getContainer(id) : p.docker.getVolume(id);
  return target.inspect().then(
    () => true,
    (err: { statusCode?: number }) => (err.statusCode === 404 ? false : Promise.reject(err)),
  );
}

describe('containers under older names (found by label, acted on by engine id)', () => {
  it('delete stops and removes a live workspace\'s legacy-named container and volume', async () => {
    const id = await newRow('Legacy Named', 'docker', 'online');
    const legacy = await legacyContainer(id);
    const res = await p.api('DELETE', `/workspaces/${id}?confirm=true`);
    expect(res.body).toEqual({ status: 'removed', cascade_deleted: 1 });
    expect(await engineKnows('container', legacy.id)).toBe(false);
    expect(await engineKnows('volume', legacy.volume)).toBe(false);
  });

  it('the sweeper removes orphan legacy-named and renamed containers by their ids and reports removed once they are gone', async () => {
    const ghostId = randomUUID();
    const legacy = await legacyContainer(ghostId);
    const renamed = await legacyContainer(randomUUID(), `ws-renamed-${randomUUID().slice(0, 8)}`);
    const report = await sweep();
    expect(report.findings).toEqual(expect.arrayContaining([expect.objectContaining({ kind: 'container', id: legacy.id, action: 'removed' })]));
    expect(report.findings).toEqual(expect.arrayContaining([expect.objectContaining({ kind: 'container', id: renamed.id, action: 'removed' })]));
    expect(await engineKnows('container', legacy.id)).toBe(false);
    expect(await engineKnows('container', renamed.id)).toBe(false);
    expect(report.findings).toEqual(expect.arrayContaining([expect.objectContaining({ kind: 'volume', id: legacy.volume, action: 'removed' })]));
    // Nothing left to report on the next pass (it was not "removed" by a name that missed it).
    const again = await sweep();
    expect(again.findings.some((f) => f.id === legacy.id)).toBe(false);
  });
});

describe('containers of live workspaces under another name (no provision looks for them since migration 020)', () => {
  it('the sweeper removes an earlier run\'s renamed container; the current run\'s (renamed) and those of rows from before 020 stay', async () => {
    const now = randomUUID();
    const id = await newRow('Renamed Stale', 'docker', 'online');
    const legacyRow = await newRow('Pre 020 Row', 'docker', 'online');
    await p.clients.pool.query('UPDATE workspaces SET provision_run_id = $2 WHERE id = ANY($1::uuid[])', [[id, legacyRow], now]);
    await p.clients.pool.query('UPDATE workspaces SET may_have_older_container_names = true WHERE id = $1', [legacyRow]);
    const stale = await legacyContainer(id, `ws-renamed-${randomUUID().slice(0, 8)}`, randomUUID());
    const current = await legacyContainer(id, `ws-renamed-${randomUUID().slice(0, 8)}`, now);
    const older = await legacyContainer(legacyRow, undefined, randomUUID());
    try {
      const preview = await sweep(true);
      expect(preview.findings).toEqual(expect.arrayContaining([expect.objectContaining({ kind: 'container', id: stale.id, action: 'would_remove' })]));
      const report = await sweep();
      expect(report.findings).toEqual(expect.arrayContaining([expect.objectContaining({ kind: 'container', id: stale.id, action: 'removed' })]));
      expect(report.findings.some((f) => f.id === current.id || f.id === older.id)).toBe(false);
      expect(await engineKnows('container', stale.id)).toBe(false);
      expect(await engineKnows('container', current.id)).toBe(true);
      expect(await engineKnows('container', older.id)).toBe(true);
    } finally {
      for (const ws of [id, legacyRow]) await p.api('DELETE', `/workspaces/${ws}?confirm=true`);
    }
  });
});

describe('stale-token revoke races a mint', () => {
  it('a token minted between the sweep\'s read and its write stays live', async () => {
    const id = await newRow('Token Race', 'docker', 'failed');
    await p.clients.store.mintCredentials(id);
    await p.clients.pool.query(`UPDATE workspace_auth_tokens SET created_at = now() - interval '10 minutes' WHERE workspace_id = $1`, [id]);
    const { createOrphanSweeper } = await import('../../activities/orphan-sweeper');
    const realPool = p.clients.pool;
    let fresh: string | null = null;
    // The sweep's own connection pool, with a restart's mint landing right after the read that found the stale token.
    const pool = new Proxy(realPool, {
      get(target, prop) {
        if (prop !== 'query') return Reflect.get(target, prop, target);
        return async (...args: Parameters<typeof realPool.query>) => {
          const res = await (target.query as (...a: unknown[]) => Promise<{ rows: Array<{ id?: string }> }>)(...args);
          if (!fresh && typeof args[0] === 'string' && /^\s*SELECT/i.test(args[0]) && args[0].includes('workspace_auth_tokens') && res.rows.some((r) => r.id === id)) {
            fresh = (await p.clients.store.mintCredentials(id)).token;
          }
          return res;
        };
      },
    });
    const sweeper = createOrphanSweeper({ store: { ...p.clients.store, pool }, compute: { docker: p.clients.compute.docker }, config: p.config, log: silentLog });
    const report = await sweeper.sweep({ dryRun: false });
    expect(fresh).not.toBeNull();
    expect(report.findings.some((f) => f.kind === 'token' && f.id === id)).toBe(false);
    expect(await liveTokens([id])).toBe(1);
    expect(await p.clients.store.authenticateAgent(fresh as unknown as string)).toMatchObject({ workspaceId: id });

    // The store's revoke, called straight after a fresh mint, revokes nothing either.
    await p.clients.store.mintCredentials(id);
    expect(await p.clients.store.revokeStaleTokens([id], 300)).toEqual([]);
    expect(await liveTokens([id])).toBe(1);
  });
});

describe('EC2 pass: instances a live row does not name', () => {
  it('terminates them after the grace, never the row\'s own instance, never while the workspace provisions', async () => {
    const { createOrphanSweeper, EC2_LEAK_GRACE_SECONDS } = await import('../../activities/orphan-sweeper');
    const ec2 = p.clients.compute.ec2!;
    const online = await newRow('Ec2 Leak', 'ec2', 'online');
    const own = await ec2.launchInstance({ workspaceId: online, clientToken: `own-${online}`, userData: 'echo own', provisionRunId: 'run-own' });
    const leaked = await ec2.launchInstance({ workspaceId: online, clientToken: `leak-${online}`, userData: 'echo leaked', provisionRunId: 'run-cancelled' });
    await p.clients.store.setComputeRefs(online, { instanceId: own.instanceId });
    const provisioning = await newRow('Ec2 Provisioning', 'ec2', 'provisioning');
    const unsaved = await ec2.launchInstance({ workspaceId: provisioning, clientToken: `new-${provisioning}`, userData: 'echo new', provisionRunId: 'run-now' });

    // Within the grace (moto's launch times are "now"): nothing is touched.
    const patient = createOrphanSweeper({ store: p.clients.store, compute: { ec2 }, config: p.config, log: silentLog });
    expect(EC2_LEAK_GRACE_SECONDS).toBeGreaterThanOrEqual(60);
    const early = await patient.sweep({ dryRun: false });
    expect(early.findings.filter((f) => f.kind === 'instance' && [online, provisioning].includes(f.workspaceId ?? ''))).toEqual([]);

    // Past the grace: the leaked one goes, the row's own and the provisioning workspace's stay.
    const late = createOrphanSweeper({ store: p.clients.store, compute: { ec2 }, config: p.config, log: silentLog, ec2LeakGraceSeconds: 0 });
    const report = await late.sweep({ dryRun: false });
    const mine = report.findings.filter((f) => f.kind === 'instance' && [online, provisioning].includes(f.workspaceId ?? ''));
    expect(mine).toEqual([expect.objectContaining({ id: leaked.instanceId, workspaceId: online, action: 'terminated' })]);
    expect(await ec2.describeState(leaked.instanceId)).toMatch(/terminated|shutting-down/);
    expect(await ec2.describeState(own.instanceId)).toMatch(/pending|running/);
    expect(await ec2.describeState(unsaved.instanceId)).toMatch(/pending|running/);
    for (const i of [own, unsaved]) await ec2.terminateInstance(i.instanceId);
  });
});

describe('deep and corrupt trees', () => {
  it('a 100-deep chain is removed to its last descendant', async () => {
    const { rows } = await p.clients.pool.query<{ id: string }>(
      `WITH RECURSIVE chain AS (SELECT 1 AS n, gen_random_uuid() AS id UNION ALL SELECT n + 1, gen_random_uuid() FROM chain WHERE n < 100)
       SELECT id FROM chain ORDER BY n`,
    );
    const ids = rows.map((r) => r.id);
    for (let i = 0; i < ids.length; i++) {
      await p.clients.pool.query(`INSERT INTO workspaces (id, name, runtime, compute, status, parent_id) VALUES ($1, $2, 'external', 'none', 'online', $3)`, [ids[i], `deep ${i}`, i === 0 ? null : ids[i - 1]]);
    }
    const preview = await p.api<{ cascade_count: number }>('DELETE', `/workspaces/${ids[0]}`);
    expect(preview.body.cascade_count).toBe(100);
    const res = await p.api('DELETE', `/workspaces/${ids[0]}?confirm=true`);
    expect(res.body).toEqual({ status: 'removed', cascade_deleted: 100 });
    expect((await row(ids[99]))?.status).toBe('removed');
    const live = await p.clients.pool.query(`SELECT count(*)::int AS n FROM workspaces WHERE id = ANY($1::uuid[]) AND status <> 'removed'`, [ids]);
    expect(live.rows[0].n).toBe(0);
  });

  it('a parent cycle made with SQL still terminates, each member once', async () => {
    const a = await newRow('Cycle A', 'none', 'online');
    const b = await newRow('Cycle B', 'none', 'online');
    const c = await newRow('Cycle C', 'none', 'online');
    await p.clients.pool.query('UPDATE workspaces SET parent_id = $2 WHERE id = $1', [b, a]);
    await p.clients.pool.query('UPDATE workspaces SET parent_id = $2 WHERE id = $1', [c, b]);
    await p.clients.pool.query('UPDATE workspaces SET parent_id = $2 WHERE id = $1', [a, c]);
    expect((await p.api<{ cascade_count: number }>('DELETE', `/workspaces/${b}`)).body.cascade_count).toBe(3);
    expect((await p.api('DELETE', `/workspaces/${b}?confirm=true&purge=true`)).body).toEqual({ status: 'removed', cascade_deleted: 3 });
    for (const id of [a, b, c]) expect(await row(id)).toBeUndefined();
  });
});

describe('purge meets a running delete', () => {
  it('answers 409 while a non-purge delete of the same root runs, and purges once it has ended', async () => {
    const id = await newRow('Purge Race', 'docker', 'online');
    failingStops.add(id); // the running delete spends ~7 s retrying the stop
    const first = p.api<{ code: string }>('DELETE', `/workspaces/${id}?confirm=true`);
    const handle = p.temporal.workflow.getHandle(`delete-${id}`);
    await waitFor('delete is stopping compute', async () => {
      const state = await handle.query(deleteStateQuery).catch(() => null);
      return state?.phase === 'stopping_compute' ? true : null;
    });
    const purge = await p.api<{ code: string; error: string; workflow_id: string }>('DELETE', `/workspaces/${id}?confirm=true&purge=true`);
    expect(purge.status).toBe(409);
    expect(purge.body).toMatchObject({ code: 'DELETE_IN_PROGRESS', error: expect.stringContaining('purge'), workflow_id: `delete-${id}` });
    expect((await first).status).toBe(500); // its stop failed: reported, not hidden
    expect((await row(id))?.status).toBe('removed');

    failingStops.delete(id);
    const again = await p.api('DELETE', `/workspaces/${id}?confirm=true&purge=true`);
    expect(again.body).toEqual({ status: 'removed', cascade_deleted: 1 });
    expect(await row(id)).toBeUndefined();
  });
});
