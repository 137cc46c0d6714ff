// Provision on EC2 (moto's server). Nothing boots inside moto, so the test plays the VM's agent: it
// reads the token from the instance's user data, as cloud-init would, and registers with it.
import { ApplicationFailure } from '@temporalio/common';
import { MANAGED_LABEL, WORKSPACE_ID_LABEL } from '../../domain/vocabulary';
import { instancesOf as instancesIn, tokenFromUserData as tokenIn } from './support/compute';
import { startPlatform, waitFor, type Platform } from './support/platform';

let p: Platform;
beforeAll(async () => {
  p = await startPlatform();
});
afterAll(async () => {
  await p?.close();
});

const instancesOf = (id: string) => instancesIn(p, id);
const tokenFromUserData = (instanceId: string) => tokenIn(p, instanceId);

describe('provision on EC2 (moto)', () => {
  it('launches one tagged instance, persists instance_id, and goes online when the agent registers', async () => {
    const res = await p.api<{ workspace: { id: string } }>('POST', '/workspaces', { name: 'Cloud Worker', compute: 'ec2', runtime: 'codex' });
    expect(res.status).toBe(202);
    const id = res.body.workspace.id;
    const row = await waitFor('instance_id persisted', async () => {
      const { rows } = await p.clients.pool.query('SELECT instance_id, status FROM workspaces WHERE id = $1', [id]);
      return rows[0].instance_id ? rows[0] : null;
    });
    const instances = await instancesOf(id);
    expect(instances).toHaveLength(1);
    expect(instances[0].InstanceId).toBe(row.instance_id);
    const tags = Object.fromEntries((instances[0].Tags ?? []).map((t) => [t.Key, t.Value]));
    expect(tags[MANAGED_LABEL]).toBe('true');
    expect(tags[WORKSPACE_ID_LABEL]).toBe(id);

    const token = await tokenFromUserData(row.instance_id);
    await waitFor('registration accepted', async () => {
      const reg = await p.api('POST', '/registry/register', { workspace_id: id }, token);
      return reg.status === 200;
    });
    const result = await p.temporal.workflow.getHandle(`provision-${id}`).result();
    expect(result.status).toBe('online');
    expect((await p.api<{ status: string }>('GET', `/workspaces/${id}`)).body.status).toBe('online');
    expect(await instancesOf(id)).toHaveLength(1);
  });

  it('terminates the instance when the agent never registers', async () => {
    const res = await p.api<{ workspace: { id: string } }>('POST', '/workspaces', {
      name: 'Cloud Silent',
      compute: 'ec2',
      provision_timeout_seconds: 3,
    });
    const id = res.body.workspace.id;
    const handle = p.temporal.workflow.getHandle(`provision-${id}`);
    const failure = await handle.result().then(
      () => null,
      (err: Error & { cause?: unknown }) => err.cause,
    );
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect((failure as ApplicationFailure).message).toBe('The agent did not register within 3 seconds.');
    const instances = await instancesOf(id);
    expect(instances).toHaveLength(1);
    expect(['shutting-down', 'terminated']).toContain(instances[0].State?.Name);
    const { rows } = await p.clients.pool.query('SELECT status, instance_id FROM workspaces WHERE id = $1', [id]);
    expect(rows[0]).toEqual({ status: 'failed', instance_id: null });
  });

  it('a retried launch activity (same run) yields exactly one instance', async () => {
    // Call the activity twice with the same run id, as Temporal does after a worker dies post-RunInstances.
    const { createProvisionActivities } = await import('../../activities/provision-activities');
    const activities = createProvisionActivities({ store: p.clients.store, box: p.clients.box, config: p.config, compute: p.clients.compute });
    const row = await p.clients.store.createWorkspace({
      name: 'Retry Launch', role: '', tier: 1, runtime: 'codex', compute: 'ec2', parentId: null, deliveryMode: 'push',
      updateTier: 'production', model: null, budgetLimit: null, maxConcurrentTasks: 1, provisionTimeoutSeconds: null,
    });
    const { sealedToken } = await activities.mintCredentials({ workspaceId: row.id });
    const { MockActivityEnvironment } = await import('@temporalio/testing');
    const env = new MockActivityEnvironment();
    const first: { instanceId?: string } = await env.run(activities.startCompute, { workspaceId: row.id, runId: 'run-1', sealedToken });
    const second: { instanceId?: string } = await env.run(activities.startCompute, { workspaceId: row.id, runId: 'run-1', sealedToken });
    expect(second.instanceId).toBe(first.instanceId);
    expect((await instancesOf(row.id)).filter((i) => i.State?.Name !== 'terminated')).toHaveLength(1);
    await env.run(activities.removeCompute, { workspaceId: row.id });
    expect(['shutting-down', 'terminated']).toContain((await instancesOf(row.id))[0].State?.Name);
  });
});
