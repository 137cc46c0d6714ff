// Provision workflow end to end on the Podman Docker API: the agent stand-in reads the token the
// platform wrote into /configs before start and registers through the real API.
import { createHash } from 'node:crypto';
import { containerName, configVolumeName, MANAGED_LABEL, PROVISION_RUN_LABEL, WORKSPACE_ID_LABEL } from '../../domain/vocabulary';
import { TEST_RUN_LABEL } from '../harness/servers';
import { PUBLIC_MESSAGES } from '../../domain/public-errors';
import { replayAndMaybeRecord } from './support/histories';
import { containerExists as exists, readTokenFile, removeWorkspaceContainer, volumeExists as volExists } from './support/compute';
import { startPlatform, waitFor, type Platform } from './support/platform';

interface Created {
  workspace: { id: string; status: string; runtime: string };
  workflow_id: string;
  run_id: string;
}

let p: Platform;
beforeAll(async () => {
  p = await startPlatform();
});
afterAll(async () => {
  await p?.close();
});

const containerExists = (id: string) => exists(p, id);
const volumeExists = (id: string) => volExists(p, id);
const removeContainer = (id: string) => removeWorkspaceContainer(p, id);

async function create(body: Record<string, unknown>): Promise<Created> {
  const res = await p.api<Created>('POST', '/workspaces', { compute: 'docker', ...body });
  expect(res.status).toBe(202);
  return res.body;
}

async function statusOf(id: string): Promise<Record<string, unknown>> {
  return (await p.api('GET', `/workspaces/${id}`)).body;
}

describe('provision on Docker', () => {
  it('reaches online: token written before start, labels and name right, only the hash stored', async () => {
    const started = Date.now();
    const created = await create({ name: 'Docker Happy', runtime: 'claude-code' });
    expect(Date.now() - started).toBeLessThan(5000); // the API does not wait for compute
    expect(created.workflow_id).toBe(`provision-${created.workspace.id}`);
    const id = created.workspace.id;

    // The registry writes `online` as the agent registers; the workflow completes just after.
    const online = await waitFor('workspace online and provision completed', async () => {
      const ws = await statusOf(id);
      return ws.status === 'online' && (ws.operation as { status: string } | null)?.status === 'COMPLETED' ? ws : null;
    });
    expect(online.container_name).toBe(containerName(id));
    expect((online.operation as { status: string; phase: string }).status).toBe('COMPLETED');

    const info = await p.docker.getContainer(containerName(id)).inspect();
    expect(info.Name.replace(/^\//, '')).toBe(`ws-${id}`); // the full id: no two workspaces share a name
    expect(info.Config.Labels[MANAGED_LABEL]).toBe('true');
    expect(info.Config.Labels[WORKSPACE_ID_LABEL]).toBe(id);
    const volume = await p.docker.getVolume(configVolumeName(id)).inspect();
    expect(volume.Labels[MANAGED_LABEL]).toBe('true');

    // The agent saw the file at its first line: it was written before the container started.
    const logs = (await p.docker.getContainer(containerName(id)).logs({ stdout: true, stderr: true })).toString('utf8');
    expect(logs).toContain('agent: token file present');

    const token = await readTokenFile(p, id);
    const { rows } = await p.clients.pool.query('SELECT token_hash, revoked_at FROM workspace_auth_tokens WHERE workspace_id = $1', [id]);
    expect(rows).toHaveLength(1);
    expect(rows[0].token_hash).toBe(createHash('sha256').update(token).digest('hex'));
    expect(rows[0].revoked_at).toBeNull();
    const dump = await p.clients.pool.query('SELECT row_to_json(w)::text AS j FROM workspaces w WHERE id = $1', [id]);
    expect(dump.rows[0].j).not.toContain(token);

    const events = await p.clients.pool.query('SELECT event_type FROM structure_events WHERE workspace_id = $1 ORDER BY id', [id]);
    expect(events.rows.map((r) => r.event_type)).toEqual(['WORKSPACE_PROVISIONING', 'WORKSPACE_ONLINE']);

    await replayAndMaybeRecord(p.temporal, created.workflow_id, created.run_id, 'provision-docker-online');

    // A second provision of an online workspace is refused; restart is the way.
    expect((await p.api('POST', `/workspaces/${id}/provision`, {})).status).toBe(409);
    await removeContainer(id);
  });

  it('a row from before migration 020 is looked at once: its provision removes the container under the older name and clears the mark', async () => {
    const markOf = async (wsId: string) => (await p.clients.pool.query('SELECT may_have_older_container_names AS m FROM workspaces WHERE id = $1', [wsId])).rows[0].m as boolean;
    const fresh = await create({ name: 'Docker Post 020' });
    expect(await markOf(fresh.workspace.id)).toBe(false); // new rows never had another name

    const ws = await p.clients.store.createWorkspace({ name: 'Docker Pre 020', role: '', tier: 1, runtime: 'claude-code', compute: 'docker', parentId: null, deliveryMode: 'push', updateTier: 'production', model: null, budgetLimit: null, maxConcurrentTasks: 1, provisionTimeoutSeconds: null });
    await p.clients.pool.query(`UPDATE workspaces SET status = 'failed', may_have_older_container_names = true WHERE id = $1`, [ws.id]);
    const labels = { [TEST_RUN_LABEL]: p.servers.runId, [MANAGED_LABEL]: 'true', [WORKSPACE_ID_LABEL]: ws.id, [PROVISION_RUN_LABEL]: 'run-legacy' };
    const older = await p.docker.createContainer({ name: `ws-${ws.id.slice(0, 12)}`, Image: p.servers.agentImage, Cmd: ['/bin/sh', '-c', 'trap "exit 0" TERM; while true; do sleep 1; done'], Labels: labels, HostConfig: { NetworkMode: 'host' } });
    await older.start();

    const res = await p.api<Created>('POST', `/workspaces/${ws.id}/provision`, {});
    expect(res.status).toBe(202);
    await p.temporal.workflow.getHandle(res.body.workflow_id).result();
    expect((await statusOf(ws.id)).status).toBe('online');
    expect(await older.inspect().then(() => true, () => false)).toBe(false);
    expect(await markOf(ws.id)).toBe(false);
    for (const id of [fresh.workspace.id, ws.id]) await p.api('DELETE', `/workspaces/${id}?confirm=true`);
  });

  it('fails after the timeout with a sanitized error, diagnostics saved, nothing left behind', async () => {
    // The agent stand-in never registers when told to be silent (its env comes from workspace secrets).
    const created = await create({ name: 'Silent Agent', provision_timeout_seconds: 4, secrets: { AGENT_BEHAVIOUR: 'silent' } });
    const id = created.workspace.id;

    // The row says failed before the workflow closes (it marks the row, then fails): wait for both.
    const failed = await waitFor('workspace failed and provision closed', async () => {
      const ws = await statusOf(id);
      return ws.status === 'failed' && (ws.operation as { status: string } | null)?.status === 'FAILED' ? ws : null;
    });
    expect(failed.last_sample_error).toBe('The agent did not register within 4 seconds.');
    const operation = failed.operation as { status: string; last_failure: string };
    expect(Object.keys(operation)).toEqual(['workflow_id', 'run_id', 'type', 'status', 'phase', 'pending_activity', 'last_failure']);
    expect(operation).toMatchObject({ type: 'provisionWorkspace', status: 'FAILED', phase: 'failed', pending_activity: null });
    expect(operation.last_failure).toBe('The agent did not register within 4 seconds.');

    expect(await containerExists(id)).toBe(false);
    expect(await volumeExists(id)).toBe(false);
    const ev = await p.clients.pool.query(
      `SELECT payload FROM structure_events WHERE workspace_id = $1 AND event_type = 'WORKSPACE_PROVISION_FAILED'`,
      [id],
    );
    expect(ev.rows).toHaveLength(1);
    expect(ev.rows[0].payload).toEqual({ error: 'The agent did not register within 4 seconds.', timeout_secs: 4 });
    const diag = await p.clients.pool.query(`SELECT message FROM activity_logs WHERE workspace_id = $1 AND action = 'provision.diagnostics'`, [id]);
    expect(diag.rows[0]?.message).toContain('agent: token file present');
    await replayAndMaybeRecord(p.temporal, created.workflow_id, created.run_id, 'provision-docker-timeout');
  });

  it('missing required env fails with the names only, and starts nothing', async () => {
    await p.api('PUT', '/admin/secrets/PRESENT_KEY', { value: 'the-value-must-not-leak' });
    const created = await create({ name: 'Needs Env', required_env: ['PRESENT_KEY', 'ABSENT_KEY', 'ALSO_ABSENT'] });
    const id = created.workspace.id;
    const failed = await waitFor('workspace failed', async () => {
      const ws = await statusOf(id);
      return ws.status === 'failed' ? ws : null;
    });
    expect(failed.last_sample_error).toBe('Missing required environment variables: ABSENT_KEY, ALSO_ABSENT');
    expect(JSON.stringify(failed)).not.toContain('the-value-must-not-leak');
    expect(await containerExists(id)).toBe(false);
    const tokens = await p.clients.pool.query('SELECT count(*)::int AS n FROM workspace_auth_tokens WHERE workspace_id = $1', [id]);
    expect(tokens.rows[0].n).toBe(0);
  });

  it('a secret that cannot be decrypted fails with the canned message and does not retry', async () => {
    const row = await p.clients.store.createWorkspace({
      name: 'Bad Secret', role: '', tier: 1, runtime: 'claude-code', compute: 'docker', parentId: null, deliveryMode: 'push',
      updateTier: 'production', model: null, budgetLimit: null, maxConcurrentTasks: 1, provisionTimeoutSeconds: null,
    });
    const id = row.id;
    await p.clients.pool.query(`INSERT INTO workspace_secrets (workspace_id, name, value_enc) VALUES ($1, 'BROKEN', 'v1:AAAA:BBBB:CCCC')`, [id]);
    const started = await p.api<Created>('POST', `/workspaces/${id}/provision`, {});
    expect(started.status).toBe(202);
    const handle = p.temporal.workflow.getHandle(started.body.workflow_id, started.body.run_id);
    await expect(handle.result()).rejects.toThrow();
    const failed = await statusOf(id);
    expect(failed.status).toBe('failed');
    expect(failed.last_sample_error).toBe(PUBLIC_MESSAGES.decryptFailed);
    expect(JSON.stringify(failed)).not.toMatch(/AAAA|BBBB|CCCC|aes|gcm/i);
    const history = await handle.fetchHistory();
    // Postgres steps run as local activities: each attempt is a marker, not an activity task.
    const localAttempts = history
      .events!.filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_local_activity')
      .map((e) => JSON.parse(Buffer.from(e.markerRecordedEventAttributes!.details!.data!.payloads![0].data!).toString('utf8')) as { activity_type: string; attempt: number })
      .map((m) => `${m.activity_type}#${m.attempt}`);
    expect(localAttempts).toEqual(['beginProvision#1']); // non-retryable: one attempt, nothing after it
    expect(history.events!.some((e) => e.activityTaskStartedEventAttributes)).toBe(false);
    expect(await containerExists(id)).toBe(false);
  });

  it('a second provision while one runs answers 409 with the running workflow id; cancel cleans up', async () => {
    const created = await create({ name: 'Slow One', provision_timeout_seconds: 60, secrets: { AGENT_BEHAVIOUR: 'silent' } });
    const id = created.workspace.id;
    const second = await p.api<{ code: string; workflow_id: string }>('POST', `/workspaces/${id}/provision`, {});
    expect(second.status).toBe(409);
    expect(second.body.code).toBe('PROVISION_IN_PROGRESS');
    expect(second.body.workflow_id).toBe(created.workflow_id);

    await waitFor('container started', () => containerExists(id));
    const handle = p.temporal.workflow.getHandle(created.workflow_id, created.run_id);
    await handle.cancel();
    await expect(handle.result()).rejects.toThrow();
    expect(await containerExists(id)).toBe(false);
    expect(await volumeExists(id)).toBe(false);
    const ws = await statusOf(id);
    expect(ws.status).toBe('failed');
    expect(ws.last_sample_error).toBe(PUBLIC_MESSAGES.cancelled);
    await replayAndMaybeRecord(p.temporal, created.workflow_id, created.run_id, 'provision-docker-cancelled');
  });

  it('an unknown runtime falls back to claude-code', async () => {
    const created = await create({ name: 'Odd Runtime', runtime: 'cobol-agent' });
    expect(created.workspace.runtime).toBe('claude-code');
    await waitFor('settles', async () => ['online', 'failed'].includes((await statusOf(created.workspace.id)).status as string));
    await removeContainer(created.workspace.id);
  });
});
