// Provision on EC2 (moto's server). Nothing boots inside moto, so the test plays the VM's agent: it
// reads the one-time bootstrap credential from the instance's user data, as cloud-init would, exchanges
// it for its token and env (POST /registry/bootstrap), and registers with the token.
import { ApplicationFailure } from '@temporalio/common';
import { MANAGED_LABEL, WORKSPACE_ID_LABEL } from '../../domain/vocabulary';
import { randomBytes } from 'node:crypto';
import { BOOTSTRAP_RATE } from '../../api/routes/registry';
import { bootstrapFromUserData, instancesOf as instancesIn, tokenFromUserData as tokenIn } from './support/compute';
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

  it('user data carries no secret, only the bootstrap values; the credential is exchanged once for token and env; IMDSv2 is required', async () => {
    const globalValue = `global-${randomBytes(8).toString('hex')}`;
    const wsValue = `ws-${randomBytes(8).toString('hex')}`;
    await p.api('PUT', '/admin/secrets/EC2_BOOT_GLOBAL', { value: globalValue });
    const res = await p.api<{ workspace: { id: string } }>('POST', '/workspaces', { name: 'Cloud Bootstrap', compute: 'ec2', secrets: { EC2_BOOT_SECRET: wsValue } });
    const id = res.body.workspace.id;
    const instanceId = await waitFor('instance id', async () => {
      const { rows } = await p.clients.pool.query('SELECT instance_id FROM workspaces WHERE id = $1', [id]);
      return rows[0].instance_id as string | null;
    });
    const { script, values } = await bootstrapFromUserData(p, instanceId);
    expect(values).toEqual({ PLATFORM_URL: p.url, WORKSPACE_ID: id, BOOTSTRAP_CREDENTIAL: expect.stringMatching(/^molb_/) });
    const [instance] = await instancesOf(id);
    const tagText = JSON.stringify(instance.Tags);
    for (const secret of [globalValue, wsValue]) expect(script).not.toContain(secret);
    for (const secret of [globalValue, wsValue, values.BOOTSTRAP_CREDENTIAL]) expect(tagText).not.toContain(secret);
    expect(instance.MetadataOptions).toMatchObject({ HttpTokens: 'required', HttpPutResponseHopLimit: 1 });

    // Wrong credential, other workspace, no credential: 401, nothing spent.
    expect((await p.api('POST', '/registry/bootstrap', { workspace_id: id }, `molb_${randomBytes(16).toString('base64url')}`)).status).toBe(401);
    expect((await p.api('POST', '/registry/bootstrap', { workspace_id: '00000000-0000-4000-8000-000000000000' }, values.BOOTSTRAP_CREDENTIAL)).status).toBe(401);
    expect((await p.api('POST', '/registry/bootstrap', { workspace_id: id }, null)).status).toBe(401);

    const first = await p.api<{ auth_token: string; env: Record<string, string> }>('POST', '/registry/bootstrap', { workspace_id: id }, values.BOOTSTRAP_CREDENTIAL);
    expect(first.status).toBe(200);
    expect(first.body.env).toMatchObject({ EC2_BOOT_GLOBAL: globalValue, EC2_BOOT_SECRET: wsValue, WORKSPACE_ID: id, PLATFORM_URL: p.url });
    const again = await p.api<{ code: string }>('POST', '/registry/bootstrap', { workspace_id: id }, values.BOOTSTRAP_CREDENTIAL);
    expect(again.status).toBe(410);
    expect(again.body.code).toBe('BOOTSTRAP_USED');

    expect(script).not.toContain(first.body.auth_token);
    expect((await p.api('POST', '/registry/register', { workspace_id: id }, first.body.auth_token)).status).toBe(200);
    expect((await p.temporal.workflow.getHandle(`provision-${id}`).result()).status).toBe('online');
    // Nothing of it in clear at rest: only hashes of the credential and the token.
    const { rows } = await p.clients.pool.query('SELECT count(*)::int AS n FROM workspace_bootstrap_credentials WHERE position($1 in credential_hash) > 0', [values.BOOTSTRAP_CREDENTIAL]);
    expect(rows[0].n).toBe(0);
    expect((await p.api('DELETE', `/workspaces/${id}?confirm=true`)).status).toBe(200);
  });

  it('an expired credential answers 410; guessing is rate limited', async () => {
    const res = await p.api<{ workspace: { id: string } }>('POST', '/workspaces', { name: 'Cloud Expired', compute: 'ec2' });
    const id = res.body.workspace.id;
    const instanceId = await waitFor('instance id', async () => {
      const { rows } = await p.clients.pool.query('SELECT instance_id FROM workspaces WHERE id = $1', [id]);
      return rows[0].instance_id as string | null;
    });
    const { values } = await bootstrapFromUserData(p, instanceId);
    await p.clients.pool.query(`UPDATE workspace_bootstrap_credentials SET expires_at = now() - interval '1 second' WHERE workspace_id = $1`, [id]);
    const expired = await p.api<{ code: string }>('POST', '/registry/bootstrap', { workspace_id: id }, values.BOOTSTRAP_CREDENTIAL);
    expect(expired.status).toBe(410);
    expect(expired.body.code).toBe('BOOTSTRAP_EXPIRED');

    const statuses: number[] = [];
    for (let i = 0; i < BOOTSTRAP_RATE.perWorkspace + 2; i++) {
      statuses.push((await p.api('POST', '/registry/bootstrap', { workspace_id: id }, `molb_${randomBytes(16).toString('base64url')}`)).status);
    }
    expect(statuses).toContain(429);
    expect(statuses.filter((s) => s !== 401 && s !== 429)).toEqual([]);
    expect((await p.api('DELETE', `/workspaces/${id}?confirm=true`)).status).toBe(200);
  });
});
