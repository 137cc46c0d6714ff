// The compute adapters against the real Docker Engine API (Podman) and moto's EC2 server.
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { EC2Client } from '@aws-sdk/client-ec2';
import Docker from 'dockerode';
import { createDockerCompute } from '../../activities/docker-compute';
import { createEc2Compute } from '../../activities/ec2-compute';
import { ComputeError } from '../../domain/errors';
import { configVolumeName, containerName, MANAGED_LABEL, PROVISION_RUN_LABEL, WORKSPACE_ID_LABEL } from '../../domain/vocabulary';
import { TEST_RUN_LABEL, testServers } from '../harness/servers';
import { waitFor } from './support/platform';

const servers = testServers();
const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };
const docker = new Docker({ socketPath: servers.dockerSocket });
const compute = createDockerCompute({ docker, network: 'host', extraLabels: { [TEST_RUN_LABEL]: servers.runId }, log: silent });
const ec2Client = new EC2Client({ region: 'us-east-1', endpoint: servers.ec2Endpoint, credentials: { accessKeyId: 't', secretAccessKey: 't' } });
const ec2 = createEc2Compute({ ec2: ec2Client, amiId: servers.ec2AmiId, instanceType: 't3.micro', extraTags: { [TEST_RUN_LABEL]: servers.runId }, log: silent });

afterAll(() => ec2Client.destroy());

async function logsOf(id: string): Promise<string> {
  return compute.tailLogs(id, 50);
}

describe('docker adapter on Podman', () => {
  const id = randomUUID();
  const start = (runId: string, behaviour = 'silent') =>
    compute.startContainer({ workspaceId: id, image: servers.agentImage, env: { AGENT_BEHAVIOUR: behaviour }, files: { '.auth_token': `tok-${runId}` }, provisionRunId: runId });

  afterAll(() => compute.removeContainer(id, { removeVolume: true }));

  it('creates, writes the file before start, labels, and is idempotent per provision run', async () => {
    const first = await start('run-a');
    expect(first).toMatchObject({ containerName: containerName(id), created: true });
    const again = await start('run-a');
    expect(again).toMatchObject({ containerId: first.containerId, created: false });
    const info = await docker.getContainer(containerName(id)).inspect();
    expect(info.Config.Labels).toMatchObject({ [MANAGED_LABEL]: 'true', [WORKSPACE_ID_LABEL]: id, [PROVISION_RUN_LABEL]: 'run-a' });
    expect(info.HostConfig.Binds?.[0]).toMatch(new RegExp(`^${configVolumeName(id)}:/configs(:|$)`)); // Podman appends mount options
    await waitFor('agent saw its token', async () => (await logsOf(id)).includes('agent: token file present'));
    expect(await compute.isRunning(id)).toBe('running');
    const managed = await compute.listManagedContainers();
    expect(managed.find((c) => c.workspaceId === id)).toMatchObject({ name: containerName(id), running: true });
    expect((await compute.listManagedVolumes()).map((v) => v.name)).toContain(configVolumeName(id));
  });

  it('replaces a container left by another provision run', async () => {
    const before = await docker.getContainer(containerName(id)).inspect();
    const next = await start('run-b');
    expect(next.created).toBe(true);
    expect(next.containerId).not.toBe(before.Id);
    expect((await docker.listContainers({ all: true, filters: { name: [containerName(id)] } }))).toHaveLength(1);
  });

  it('stop: stopped, then stopped again (304), missing is not_found; removal is idempotent', async () => {
    expect(await compute.stopContainer(id, { timeoutSeconds: 1 })).toBe('stopped');
    expect(await compute.isRunning(id)).toBe('stopped');
    expect(await compute.stopContainer(id, { timeoutSeconds: 1 })).toBe('stopped');
    await compute.removeContainer(id, { removeVolume: false });
    expect(await compute.isRunning(id)).toBe('not_found');
    expect(await compute.stopContainer(id)).toBe('not_found');
    await compute.removeContainer(id, { removeVolume: true });
    expect(await compute.removeVolume(configVolumeName(id))).toBe('not_found');
    expect(await compute.tailLogs(id, 10)).toBe('');
  });

  it('a stubborn agent (ignores SIGTERM) is still stopped', async () => {
    await start('run-c', 'stubborn');
    await waitFor('stubborn agent up', async () => (await logsOf(id)).includes('ignoring SIGTERM'));
    expect(await compute.stopContainer(id, { timeoutSeconds: 1 })).toBe('stopped');
    expect(await compute.isRunning(id)).toBe('stopped');
    await compute.removeContainer(id, { removeVolume: true });
  });

  it('an engine that does not answer is transient, never "not running"', async () => {
    const dead = createDockerCompute({ docker: new Docker({ socketPath: '/nonexistent/podman.sock' }), network: 'host', log: silent });
    await expect(dead.isRunning(id)).rejects.toMatchObject({ kind: 'transient' });
    await expect(dead.stopContainer(id)).rejects.toBeInstanceOf(ComputeError);
    await expect(dead.listManagedContainers()).rejects.toMatchObject({ kind: 'transient' });
  });

  it('a missing image is image_missing', async () => {
    const other = randomUUID();
    await expect(
      compute.startContainer({ workspaceId: other, image: 'localhost/no-such-image:0', env: {}, files: {}, provisionRunId: 'r' }),
    ).rejects.toMatchObject({ kind: 'image_missing' });
    await compute.removeContainer(other, { removeVolume: true });
  });
});

describe('ec2 adapter on moto', () => {
  const id = randomUUID();

  it('launches once per client token, waits for running, terminates and confirms', async () => {
    const req = { workspaceId: id, clientToken: `tok-${id.slice(0, 8)}`, userData: '#!/bin/sh\necho hi\n', provisionRunId: 'run-1' };
    const first = await ec2.launchInstance(req);
    const second = await ec2.launchInstance(req);
    expect(first.created).toBe(true);
    expect(second).toEqual({ instanceId: first.instanceId, created: false });
    const other = await ec2.launchInstance({ ...req, clientToken: `tok2-${id.slice(0, 8)}` });
    expect(other.instanceId).not.toBe(first.instanceId);

    await ec2.waitRunning(first.instanceId, { timeoutMs: 30_000, pollMs: 100 });
    expect(await ec2.describeState(first.instanceId)).toBe('running');
    expect((await ec2.listManagedInstances()).map((i) => i.instanceId)).toEqual(expect.arrayContaining([first.instanceId, other.instanceId]));
    expect(await ec2.terminateInstance(first.instanceId)).toBe('terminated');
    expect(['shutting-down', 'terminated']).toContain(await ec2.describeState(first.instanceId));
    expect(await ec2.terminateInstance(other.instanceId)).toBe('terminated');
    expect(await ec2.terminateInstance('i-0123456789abcdef0')).toBe('not_found');
    expect(await ec2.describeState('i-0123456789abcdef0')).toBe('not_found');
  });

  it('a 5xx from Terminate is never success (the reference leaked instances that way)', async () => {
    // A stand-in EC2 endpoint that answers every call with 503.
    const failing: Server = createServer((_req, res) => {
      res.writeHead(503, { 'content-type': 'text/xml' });
      res.end('<Response><Errors><Error><Code>ServiceUnavailable</Code><Message>try later</Message></Error></Errors></Response>');
    });
    await new Promise<void>((r) => failing.listen(0, '127.0.0.1', () => r()));
    const port = (failing.address() as { port: number }).port;
    const client = new EC2Client({ region: 'us-east-1', endpoint: `http://127.0.0.1:${port}`, credentials: { accessKeyId: 't', secretAccessKey: 't' }, maxAttempts: 1 });
    const broken = createEc2Compute({ ec2: client, amiId: servers.ec2AmiId, instanceType: 't3.micro', log: silent });
    try {
      await expect(broken.terminateInstance('i-0123456789abcdef0')).rejects.toMatchObject({ kind: 'transient' });
    } finally {
      client.destroy();
      failing.close();
    }
  });
});
