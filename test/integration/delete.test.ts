// Delete cascade and orphan sweeper against real Docker (Podman), EC2 (moto) and Postgres.
import { configVolumeName, containerName, MANAGED_LABEL } from '../../domain/vocabulary';
import { TEST_RUN_LABEL } from '../harness/servers';
import { deleteStateQuery, type DeleteTreeResult } from '../../workflows/definitions';
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

    // While the engine still refuses, the sweeper keeps the volume.
    const first = await sweep();
    expect(first.findings).toEqual(expect.arrayContaining([expect.objectContaining({ kind: 'container', id: containerName(id), action: 'stop_failed' })]));
    expect(await volumeExists(p, id)).toBe(true);

    failingStops.delete(id);
    const second = await sweep();
    expect(second.findings).toEqual(expect.arrayContaining([expect.objectContaining({ kind: 'container', id: containerName(id), action: 'removed' })]));
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
    expect(result.removedIds).toHaveLength(1000);
    expect(await handle.query(deleteStateQuery)).toMatchObject({ phase: 'done', total: 1000, computeTotal: 0, stopFailures: 0 });
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
      await waitFor('boot pass ran', async () => ((await handle.describe()).info.recentActions.length > 0 ? true : null));
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
    expect(dry.body.findings).toEqual(expect.arrayContaining([expect.objectContaining({ kind: 'container', id: containerName(ghostId), action: 'would_remove' })]));
    expect(await p.docker.getContainer(containerName(ghostId)).inspect().then(() => true)).toBe(true);

    const report = await sweep();
    const kinds = report.findings.map((f) => `${f.kind}:${f.id}:${f.action}`);
    expect(kinds).toEqual(expect.arrayContaining([`container:${containerName(ghostId)}:removed`, `volume:${volume.name}:removed`, `token:${idle.id}:revoked`]));
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
