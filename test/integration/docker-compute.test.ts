// activities/docker-compute.ts against the real Docker Engine API (Podman's service, started by the
// jest global setup). Everything created here carries molecule.test.run=<runId>.
import { randomUUID } from 'node:crypto';
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { createDockerCompute, MAX_LOG_BYTES, type StartContainerRequest } from '../../activities/docker-compute';
import { ComputeError } from '../../domain/errors';
import { configVolumeName, containerName, MANAGED_LABEL, PROVISION_RUN_LABEL, WORKSPACE_ID_LABEL } from '../../domain/vocabulary';
import { TEST_RUN_LABEL, testServers } from '../harness/servers';
import { waitFor } from '../support/wait-for';

const servers = testServers();
const runLabel = { [TEST_RUN_LABEL]: servers.runId };
const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };
const docker = new Docker({ socketPath: servers.dockerSocket });
const compute = createDockerCompute({ docker, network: 'host', extraLabels: runLabel, log: silent });
const used = new Set<string>();

function newWorkspace(): string {
  const id = randomUUID();
  used.add(id);
  return id;
}

function startReq(workspaceId: string, runId: string, token = `tok-${runId}`, behaviour = 'silent'): StartContainerRequest {
  return { workspaceId, image: servers.agentImage, env: { AGENT_BEHAVIOUR: behaviour, WORKSPACE_ID: workspaceId }, files: { '.auth_token': token }, provisionRunId: runId };
}


/** Runs a throw-away container on the workspace's config volume and returns its output. */
async function readVolume(workspaceId: string, script: string): Promise<string> {
  const c = await docker.createContainer({
    Image: servers.agentImage,
    Cmd: ['/bin/sh', '-c', script],
    Labels: runLabel,
    HostConfig: { Binds: [`${configVolumeName(workspaceId)}:/configs:ro`], NetworkMode: 'host' },
  });
  try {
    await c.start();
    await c.wait();
    const raw = (await c.logs({ stdout: true, stderr: true })) as unknown as Buffer;
    // strip the 8-byte stream headers
    const out: Buffer[] = [];
    for (let i = 0; i + 8 <= raw.length; i += 8 + raw.readUInt32BE(i + 4)) out.push(raw.subarray(i + 8, i + 8 + raw.readUInt32BE(i + 4)));
    return Buffer.concat(out).toString('utf8');
  } finally {
    await c.remove({ force: true });
  }
}

async function containersNamed(name: string): Promise<Docker.ContainerInfo[]> {
  const list = await docker.listContainers({ all: true, filters: { label: [`${TEST_RUN_LABEL}=${servers.runId}`] } });
  return list.filter((c) => c.Names.some((n) => n.replace(/^\//, '') === name));
}

afterAll(async () => {
  for (const id of used) await compute.removeContainer(id, { removeVolume: true }).catch(() => undefined);
});

describe('startContainer', () => {
  it('writes config files only into a volume this run created (an earlier run\'s volume keeps its contents)', async () => {
    const kept = newWorkspace();
    const scope = { [MANAGED_LABEL]: 'true', [WORKSPACE_ID_LABEL]: kept, [TEST_RUN_LABEL]: servers.runId };
    await docker.createVolume({ Name: configVolumeName(kept), Labels: { ...scope, [PROVISION_RUN_LABEL]: 'run-old' } });
    await compute.startContainer({ ...startReq(kept, 'run-new'), configFiles: { 'config.yaml': Buffer.from('new: true') } });
    expect(await readVolume(kept, 'ls /configs')).not.toContain('config.yaml');

    const own = newWorkspace();
    await compute.startContainer({ ...startReq(own, 'run-own'), configFiles: { 'config.yaml': Buffer.from('new: true') } });
    // A retry of the same run finds its own volume (created in the first attempt) and still fills it.
    await compute.removeContainer(own, { removeVolume: false });
    await compute.startContainer({ ...startReq(own, 'run-own'), configFiles: { 'config.yaml': Buffer.from('again: true') } });
    expect(await readVolume(own, 'cat /configs/config.yaml')).toContain('again: true');
  });

  it('writes the files into /configs before the first start, with name, labels, env, bind and network', async () => {
    const id = newWorkspace();
    const started = await compute.startContainer(startReq(id, 'run-a', 'secret-token-a'));
    expect(started).toMatchObject({ containerName: containerName(id), created: true });

    // agent.sh exits 3 when the token file is missing at its first line, so this line proves "before start".
    await waitFor('agent saw its token', async () => (await compute.tailLogs(id, 20)).includes('agent: token file present'), 30_000, 200);
    expect(await compute.isRunning(id)).toBe('running');
    const onVolume = await readVolume(id, 'ls -ln /configs/.auth_token; cat /configs/.auth_token');
    expect(onVolume).toMatch(/^-rw-------\s+1\s+0\s+0\s+14\s/m); // 0600, root-owned, 14 bytes
    expect(onVolume.trim().endsWith('secret-token-a')).toBe(true);

    const info = await docker.getContainer(containerName(id)).inspect();
    expect(info.Id).toBe(started.containerId);
    expect(info.Name.replace(/^\//, '')).toBe(containerName(id));
    expect(info.Config.Labels).toMatchObject({ [MANAGED_LABEL]: 'true', [WORKSPACE_ID_LABEL]: id, [PROVISION_RUN_LABEL]: 'run-a', [TEST_RUN_LABEL]: servers.runId });
    expect(info.Config.Env).toEqual(expect.arrayContaining(['AGENT_BEHAVIOUR=silent', `WORKSPACE_ID=${id}`]));
    expect(info.HostConfig.Binds?.[0]).toMatch(new RegExp(`^${configVolumeName(id)}:/configs(:|$)`)); // Podman appends mount options
    expect(info.HostConfig.NetworkMode).toBe('host');
    expect(info.HostConfig.RestartPolicy?.Name ?? '').toMatch(/^(no|)$/);
    const volume = await docker.getVolume(configVolumeName(id)).inspect();
    expect(volume.Labels).toMatchObject({ [MANAGED_LABEL]: 'true', [WORKSPACE_ID_LABEL]: id, [TEST_RUN_LABEL]: servers.runId });
  });

  it('is idempotent per provision run: same container, created false, files of a started container untouched', async () => {
    const id = newWorkspace();
    const first = await compute.startContainer(startReq(id, 'run-a', 'token-one'));
    const again = await compute.startContainer(startReq(id, 'run-a', 'token-two'));
    expect(again).toEqual({ containerId: first.containerId, containerName: containerName(id), created: false });
    expect(await containersNamed(containerName(id))).toHaveLength(1);
    expect((await readVolume(id, 'cat /configs/.auth_token')).trim()).toBe('token-one');
  });

  it('a retry after a crash between create and start writes the files and starts the same container', async () => {
    const id = newWorkspace();
    // What a worker that died right after createContainer leaves behind: created, never started, no token.
    await docker.createVolume({ Name: configVolumeName(id), Labels: { ...runLabel, [MANAGED_LABEL]: 'true', [WORKSPACE_ID_LABEL]: id } });
    const orphan = await docker.createContainer({
      name: containerName(id),
      Image: servers.agentImage,
      Env: ['AGENT_BEHAVIOUR=silent'],
      Labels: { ...runLabel, [MANAGED_LABEL]: 'true', [WORKSPACE_ID_LABEL]: id, [PROVISION_RUN_LABEL]: 'run-crash' },
      HostConfig: { Binds: [`${configVolumeName(id)}:/configs`], NetworkMode: 'host' },
    });
    expect(await compute.isRunning(id)).toBe('stopped');
    const resumed = await compute.startContainer(startReq(id, 'run-crash', 'late-token'));
    expect(resumed).toEqual({ containerId: orphan.id, containerName: containerName(id), created: false });
    await waitFor('agent saw its token', async () => (await compute.tailLogs(id, 20)).includes('agent: token file present'), 30_000, 200);
    expect((await readVolume(id, 'cat /configs/.auth_token')).trim()).toBe('late-token');
  });

  it('restarts a stopped container of the same run without recreating it', async () => {
    const id = newWorkspace();
    const first = await compute.startContainer(startReq(id, 'run-a'));
    expect(await compute.stopContainer(id, { timeoutSeconds: 1 })).toBe('stopped');
    expect(await compute.isRunning(id)).toBe('stopped');
    const again = await compute.startContainer(startReq(id, 'run-a'));
    expect(again).toMatchObject({ containerId: first.containerId, created: false });
    expect(await compute.isRunning(id)).toBe('running');
  });

  it('replaces a container left by another provision run, keeping one container and the new token', async () => {
    const id = newWorkspace();
    const old = await compute.startContainer(startReq(id, 'run-a', 'old-token'));
    const next = await compute.startContainer(startReq(id, 'run-b', 'new-token'));
    expect(next.created).toBe(true);
    expect(next.containerId).not.toBe(old.containerId);
    const named = await containersNamed(containerName(id));
    expect(named.map((c) => c.Id)).toEqual([next.containerId]);
    expect(named[0].Labels[PROVISION_RUN_LABEL]).toBe('run-b');
    expect((await readVolume(id, 'cat /configs/.auth_token')).trim()).toBe('new-token');
  });

  it('concurrent attempts of one run (name conflict on create) end with one container both agree on', async () => {
    const id = newWorkspace();
    const results = await Promise.all([1, 2, 3].map(() => compute.startContainer(startReq(id, 'run-race'))));
    expect(new Set(results.map((r) => r.containerId)).size).toBe(1);
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(await containersNamed(containerName(id))).toHaveLength(1);
    expect(await compute.isRunning(id)).toBe('running');
  });

  it('a missing image is image_missing and leaves no container', async () => {
    const id = newWorkspace();
    const err = await compute.startContainer({ ...startReq(id, 'run-a'), image: 'localhost/no-such-image:0' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ComputeError);
    expect(err).toMatchObject({ kind: 'image_missing' });
    expect(await containersNamed(containerName(id))).toHaveLength(0);
  });
});

describe('isRunning / stopContainer', () => {
  it('running, stopped, not_found; stopping twice is success (304), stopping a missing one is not_found', async () => {
    const id = newWorkspace();
    expect(await compute.isRunning(id)).toBe('not_found');
    expect(await compute.stopContainer(id)).toBe('not_found');
    await compute.startContainer(startReq(id, 'run-a'));
    expect(await compute.isRunning(id)).toBe('running');
    expect(await compute.stopContainer(id, { timeoutSeconds: 1 })).toBe('stopped');
    expect(await compute.isRunning(id)).toBe('stopped');
    expect(await compute.stopContainer(id, { timeoutSeconds: 1 })).toBe('stopped');
    await compute.removeContainer(id, { removeVolume: true });
    expect(await compute.isRunning(id)).toBe('not_found');
    expect(await compute.stopContainer(id)).toBe('not_found');
  });

  it('stops an agent that ignores SIGTERM within the timeout', async () => {
    const id = newWorkspace();
    await compute.startContainer(startReq(id, 'run-a', 'tok', 'stubborn'));
    await waitFor('stubborn agent up', async () => (await compute.tailLogs(id, 20)).includes('ignoring SIGTERM'), 30_000, 200);
    const t0 = Date.now();
    expect(await compute.stopContainer(id, { timeoutSeconds: 1 })).toBe('stopped');
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect(await compute.isRunning(id)).toBe('stopped');
  });

  it('an engine that does not answer is transient everywhere, never "not running" or "gone"', async () => {
    const dead = createDockerCompute({ docker: new Docker({ socketPath: '/nonexistent/podman.sock' }), network: 'molecule-test-net', log: silent });
    const id = randomUUID();
    const transient = { kind: 'transient' };
    await expect(dead.isRunning(id)).rejects.toMatchObject(transient);
    await expect(dead.isRunning(id)).rejects.toBeInstanceOf(ComputeError);
    await expect(dead.stopContainer(id)).rejects.toMatchObject(transient);
    await expect(dead.removeContainer(id, { removeVolume: true })).rejects.toMatchObject(transient);
    await expect(dead.removeVolume(configVolumeName(id))).rejects.toMatchObject(transient);
    await expect(dead.tailLogs(id, 10)).rejects.toMatchObject(transient);
    await expect(dead.listManagedContainers()).rejects.toMatchObject(transient);
    await expect(dead.listManagedVolumes()).rejects.toMatchObject(transient);
    await expect(dead.ping()).rejects.toMatchObject(transient);
    await expect(dead.ensureNetwork()).rejects.toMatchObject(transient);
    await expect(dead.startContainer(startReq(id, 'r'))).rejects.toMatchObject(transient);
  });
});

describe('tailLogs', () => {
  it('returns the last lines without stream headers, and "" for a missing container', async () => {
    const id = newWorkspace();
    await compute.startContainer(startReq(id, 'run-a'));
    const logs = await waitFor('agent output', async () => {
      const text = await compute.tailLogs(id, 50);
      return text.includes('agent: silent') ? text : null;
    }, 30_000, 200);
    expect(logs).toBe('agent: token file present\nagent: silent, never registering\n');
    expect(await compute.tailLogs(id, 1)).toBe('agent: silent, never registering\n');
    expect(await compute.tailLogs(randomUUID(), 10)).toBe('');
  });

  it('bounds the output to the newest 16 KiB', async () => {
    const id = newWorkspace();
    // A container under the workspace's name that prints 3,000 numbered lines (~60 KiB), then idles.
    await docker.createContainer({
      name: containerName(id),
      Image: servers.agentImage,
      Cmd: ['/bin/sh', '-c', 'i=0; while [ $i -lt 3000 ]; do echo "line-$i-0123456789"; i=$((i+1)); done; echo done; sleep 3600'],
      Labels: { ...runLabel, [MANAGED_LABEL]: 'true', [WORKSPACE_ID_LABEL]: id },
      HostConfig: { NetworkMode: 'host' },
    }).then((c) => c.start());
    const text = await waitFor('all lines written', async () => {
      const t = await compute.tailLogs(id, 10_000);
      return t.endsWith('done\n') ? t : null;
    }, 30_000, 200);
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(MAX_LOG_BYTES);
    expect(Buffer.byteLength(text)).toBeGreaterThan(MAX_LOG_BYTES - 64);
    expect(text).toContain('line-2999-0123456789\ndone\n');
    expect(text).not.toContain('line-0-');
    expect(text).not.toMatch(/[\x00-\x02]/);
  });
});

describe('removal and listings', () => {
  it('removeContainer keeps or removes the volume as asked; both are idempotent', async () => {
    const id = newWorkspace();
    await compute.startContainer(startReq(id, 'run-a'));
    await compute.removeContainer(id, { removeVolume: false });
    await compute.removeContainer(id, { removeVolume: false });
    expect(await compute.isRunning(id)).toBe('not_found');
    expect((await compute.listManagedVolumes()).map((v) => v.name)).toContain(configVolumeName(id));

    await compute.removeContainer(id, { removeVolume: true });
    expect((await compute.listManagedVolumes()).map((v) => v.name)).not.toContain(configVolumeName(id));
    await compute.removeContainer(id, { removeVolume: true });
    expect(await compute.removeVolume(configVolumeName(id))).toBe('not_found');
  });

  it('removeVolume: removed, then not_found; a volume in use is a transient error, not success', async () => {
    const id = newWorkspace();
    await compute.startContainer(startReq(id, 'run-a'));
    await expect(compute.removeVolume(configVolumeName(id))).rejects.toMatchObject({ kind: 'transient' });
    await compute.removeContainer(id, { removeVolume: false });
    expect(await compute.removeVolume(configVolumeName(id))).toBe('removed');
    expect(await compute.removeVolume(configVolumeName(id))).toBe('not_found');
  });

  it('lists only managed containers and volumes of this scope, with workspace ids and running state', async () => {
    const running = newWorkspace();
    const stopped = newWorkspace();
    await compute.startContainer(startReq(running, 'run-a'));
    await compute.startContainer(startReq(stopped, 'run-a'));
    await compute.stopContainer(stopped, { timeoutSeconds: 1 });
    // Same run label, no managed label: not ours to manage.
    const bystander = await docker.createContainer({ name: `bystander-${servers.runId}`, Image: servers.agentImage, Labels: runLabel });
    try {
      const containers = await compute.listManagedContainers();
      expect(containers.find((c) => c.workspaceId === running)).toMatchObject({ name: containerName(running), running: true });
      expect(containers.find((c) => c.workspaceId === stopped)).toMatchObject({ name: containerName(stopped), running: false });
      expect(containers.find((c) => c.workspaceId === running)?.labels).toMatchObject({ [MANAGED_LABEL]: 'true', [PROVISION_RUN_LABEL]: 'run-a' });
      expect(containers.map((c) => c.id)).not.toContain(bystander.id);
      expect(containers.every((c) => c.labels[TEST_RUN_LABEL] === servers.runId)).toBe(true);

      const volumes = await compute.listManagedVolumes();
      expect(volumes).toEqual(expect.arrayContaining([{ name: configVolumeName(running), workspaceId: running }, { name: configVolumeName(stopped), workspaceId: stopped }]));

      // Another scope (another deployment or test run on the same engine) sees none of them.
      const other = createDockerCompute({ docker, network: 'host', extraLabels: { [TEST_RUN_LABEL]: `other-${servers.runId}` }, log: silent });
      expect(await other.listManagedContainers()).toEqual([]);
      expect(await other.listManagedVolumes()).toEqual([]);
    } finally {
      await bystander.remove({ force: true });
    }
  });
});

describe('ping / ensureNetwork', () => {
  it('ping answers; built-in networks are a no-op; a named network is created once, idempotently', async () => {
    await compute.ping();
    await compute.ensureNetwork(); // 'host'
    const name = `molecule-test-net-${servers.runId}`;
    const withNet = createDockerCompute({ docker, network: name, extraLabels: runLabel, log: silent });
    try {
      await withNet.ensureNetwork();
      await withNet.ensureNetwork();
      await Promise.all([withNet.ensureNetwork(), withNet.ensureNetwork()]);
      const info = (await docker.getNetwork(name).inspect()) as { Name: string; Labels?: Record<string, string> };
      expect(info.Name).toBe(name);
      expect(info.Labels).toMatchObject({ [MANAGED_LABEL]: 'true', [TEST_RUN_LABEL]: servers.runId });
    } finally {
      await docker.getNetwork(name).remove().catch(() => undefined);
    }
  });

  it('startContainer on a named network the engine does not have yet creates it and starts (no ensureNetwork first)', async () => {
    const name = `molecule-test-net2-${servers.runId}`;
    const withNet = createDockerCompute({ docker, network: name, extraLabels: runLabel, log: silent });
    const id = newWorkspace();
    try {
      await expect(docker.getNetwork(name).inspect()).rejects.toMatchObject({ statusCode: 404 });
      const started = await withNet.startContainer(startReq(id, 'run-net', 'token-net'));
      expect(started.created).toBe(true);
      const info = await docker.getContainer(started.containerId).inspect();
      // Podman 4.3 reports NetworkMode "bridge" for a user-defined network; the attachment shows the name.
      expect(Object.keys(info.NetworkSettings.Networks ?? {})).toContain(name);
      expect(info.State.Running || info.State.Status === 'exited').toBe(true);
      const net = (await docker.getNetwork(name).inspect()) as { Labels?: Record<string, string> };
      expect(net.Labels).toMatchObject({ [MANAGED_LABEL]: 'true', [TEST_RUN_LABEL]: servers.runId });
    } finally {
      await withNet.removeContainer(id, { removeVolume: true }).catch(() => undefined);
      await docker.getNetwork(name).remove().catch(() => undefined);
    }
  });
});

/** What the older naming scheme left: `ws-<first 12 chars>` and its volume, labelled as every managed container is. */
async function legacyContainer(workspaceId: string, opts: { start: boolean }): Promise<{ id: string; name: string; volume: string }> {
  const name = `ws-${workspaceId.slice(0, 12)}`;
  const volume = `${name}-configs`;
  const labels = { ...runLabel, [MANAGED_LABEL]: 'true', [WORKSPACE_ID_LABEL]: workspaceId };
  await docker.createVolume({ Name: volume, Labels: labels });
  const c = await docker.createContainer({
    name,
    Image: servers.agentImage,
    Cmd: ['/bin/sh', '-c', 'trap "exit 0" TERM; echo legacy agent up; while true; do sleep 1; done'],
    Labels: { ...labels, [PROVISION_RUN_LABEL]: 'run-legacy' },
    HostConfig: { Binds: [`${volume}:/configs`], NetworkMode: 'host' },
  });
  if (opts.start) await c.start();
  return { id: c.id, name, volume };
}

async function engineKnows(containerId: string): Promise<boolean> {
  return docker.getContainer(containerId).inspect().then(
    () => true,
    (err: { statusCode?: number }) => (err.statusCode === 404 ? false : Promise.reject(err)),
  );
}

async function volumeNamed(name: string): Promise<boolean> {
  return docker.getVolume(name).inspect().then(
    () => true,
    (err: { statusCode?: number }) => (err.statusCode === 404 ? false : Promise.reject(err)),
  );
}

describe('names carry the full workspace id; older names are found by label', () => {
  it('two workspace ids sharing their first 12 characters get distinct containers and volumes', async () => {
    const a = randomUUID();
    const b = `${a.slice(0, 12)}${randomUUID().slice(12)}`;
    expect(b.slice(0, 12)).toBe(a.slice(0, 12));
    expect(b).not.toBe(a);
    used.add(a);
    used.add(b);
    const [sa, sb] = await Promise.all([compute.startContainer(startReq(a, 'run-a', 'token-a')), compute.startContainer(startReq(b, 'run-b', 'token-b'))]);
    expect(sa.containerId).not.toBe(sb.containerId);
    expect(sa.created && sb.created).toBe(true);
    expect(containerName(a)).toBe(`ws-${a}`);
    expect(configVolumeName(a)).toBe(`ws-${a}-configs`);
    expect((await readVolume(a, 'cat /configs/.auth_token')).trim()).toBe('token-a');
    expect((await readVolume(b, 'cat /configs/.auth_token')).trim()).toBe('token-b');
    await compute.removeContainer(a, { removeVolume: true });
    expect(await compute.isRunning(a)).toBe('not_found');
    expect(await compute.isRunning(b)).toBe('running');
  });

  it('isRunning, stopContainer, tailLogs and removeContainer act on a legacy-named container by its engine id', async () => {
    const id = newWorkspace();
    const legacy = await legacyContainer(id, { start: true });
    expect(await compute.isRunning(id)).toBe('running');
    await waitFor('legacy agent logged', async () => (await compute.tailLogs(id, 5)).includes('legacy agent up'), 30_000, 200);
    expect(await compute.stopContainer(id, { timeoutSeconds: 5 })).toBe('stopped');
    expect(await compute.isRunning(id)).toBe('stopped');
    expect(await engineKnows(legacy.id)).toBe(true);
    await compute.removeContainer(id, { removeVolume: true });
    expect(await engineKnows(legacy.id)).toBe(false);
    expect(await volumeNamed(legacy.volume)).toBe(false);
    expect(await compute.isRunning(id)).toBe('not_found');
  });

  it('a provision replaces a legacy-named container: one container left, under the new name', async () => {
    const id = newWorkspace();
    const legacy = await legacyContainer(id, { start: true });
    const started = await compute.startContainer(startReq(id, 'run-new', 'token-new'));
    expect(started).toMatchObject({ containerName: containerName(id), created: true });
    expect(await engineKnows(legacy.id)).toBe(false);
    const mine = (await compute.listManagedContainers()).filter((c) => c.workspaceId === id);
    expect(mine.map((c) => c.id)).toEqual([started.containerId]);
  });

  it('a start told that no older name is possible makes no container listing (a walk over every container on the engine)', async () => {
    const listings: string[] = [];
    const engine = await proxyEngine((req, url) => {
      if (req.method === 'GET' && /\/containers\/json$/.test(url.pathname)) listings.push(url.search);
      return false;
    });
    try {
      const viaProxy = createDockerCompute({ docker: engine.docker, network: 'host', extraLabels: runLabel, log: silent });
      const id = newWorkspace();
      const started = await viaProxy.startContainer({ ...startReq(id, 'run-new'), olderNamesPossible: false });
      expect(started).toMatchObject({ containerName: containerName(id), created: true });
      expect(listings).toEqual([]);
      // Not told: looked up, as for a row from before migration 020.
      await viaProxy.startContainer(startReq(newWorkspace(), 'run-other'));
      expect(listings).toHaveLength(1);
    } finally {
      await engine.close();
    }
  });

  it('removeContainerById: removed once the engine no longer knows it, not_found for an unknown id, and a refused remove is an error', async () => {
    const id = newWorkspace();
    const legacy = await legacyContainer(id, { start: true });
    expect(await compute.removeContainerById(legacy.id, { stopTimeoutSeconds: 5 })).toBe('removed');
    expect(await engineKnows(legacy.id)).toBe(false);
    expect(await compute.removeContainerById(legacy.id, { stopTimeoutSeconds: 1 })).toBe('not_found');

    // Podman refuses to remove a container another one depends on (it shares its network namespace).
    const target = await legacyContainer(newWorkspace(), { start: true });
    const dependent = await docker.createContainer({ Image: servers.agentImage, Cmd: ['/bin/sh', '-c', 'sleep 600'], Labels: runLabel, HostConfig: { NetworkMode: `container:${target.id}` } });
    try {
      await expect(compute.removeContainerById(target.id, { stopTimeoutSeconds: 5 })).rejects.toMatchObject({ kind: 'transient' });
      expect(await engineKnows(target.id)).toBe(true);
    } finally {
      await dependent.remove({ force: true });
    }
    expect(await compute.removeContainerById(target.id, { stopTimeoutSeconds: 1 })).toBe('removed');
    await docker.getVolume(target.volume).remove();
  });
});

/**
 * A Docker socket in front of the real Podman one: every request passes through unless `intercept`
 * answers it itself (returning true).
 */
async function proxyEngine(intercept: (req: IncomingMessage, url: URL, res: ServerResponse) => boolean): Promise<{ docker: Docker; close: () => Promise<void> }> {
  const socketPath = join(tmpdir(), `engine-proxy-${randomUUID()}.sock`);
  const server = createServer((req, res) => {
    if (intercept(req, new URL(req.url ?? '/', 'http://engine'), res)) return;
    const upstream = request({ socketPath: servers.dockerSocket, method: req.method, path: req.url, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return { docker: new Docker({ socketPath }), close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/**
 * A proxy in front of the engine's socket that fails every container listing not filtered to one workspace,
 * the way Podman fails a whole listing when one container in it is half-removed (its store no longer knows
 * it): `500 getting container from store "<id>": container not known`. Podman filters by label first,
 * so a listing of one workspace's containers that does not hold the broken one still answers.
 */
async function engineWithOneBrokenContainer(opts: { failedListings?: number; brokenId?: string } = {}): Promise<{ docker: Docker; close: () => Promise<void> }> {
  let failuresLeft = opts.failedListings ?? Infinity; // a finite number: a removal that finishes meanwhile
  // The broken container: an id nobody has (removing it changes nothing: it stays broken), or a real
  // container of the scope, broken until the proxy passes on a DELETE of it.
  const brokenId = opts.brokenId ?? 'f'.repeat(64);
  return proxyEngine((req, url, res) => {
    if (opts.brokenId && req.method === 'DELETE' && url.pathname.endsWith(`/containers/${brokenId}`)) failuresLeft = 0;
    const scopeWide = req.method === 'GET' && /\/containers\/json$/.test(url.pathname) && !(url.searchParams.get('filters') ?? '').includes(`${WORKSPACE_ID_LABEL}=`);
    if (!scopeWide || failuresLeft-- <= 0) return false;
    res.writeHead(500, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ cause: 'container not known', message: `getting container from store "${brokenId}": container not known`, response: 500 }));
    return true;
  });
}

describe('containers are removed by engine id, never by name', () => {
  it('removeContainer (restart, delete, pause) removes the derived name\'s container and an older-named one, each by its id', async () => {
    // Podman's remove by name first tries the name as a storage-only container: during a create of that
    // name it deletes the create's storage, leaving a container without storage that fails every listing.
    const removals: string[] = [];
    const engine = await proxyEngine((req, url) => {
      if (req.method === 'DELETE' && /\/containers\/[^/]+$/.test(url.pathname)) removals.push(url.pathname.split('/').pop() as string);
      return false;
    });
    try {
      const viaProxy = createDockerCompute({ docker: engine.docker, network: 'host', extraLabels: runLabel, log: silent });
      const id = newWorkspace();
      const started = await compute.startContainer(startReq(id, 'run-a'));
      const legacy = await legacyContainer(id, { start: false });
      await viaProxy.removeContainer(id, { removeVolume: true });
      expect(await engineKnows(started.containerId)).toBe(false);
      expect(await engineKnows(legacy.id)).toBe(false);
      expect(await volumeNamed(legacy.volume)).toBe(false);
      expect(removals.sort()).toEqual([started.containerId, legacy.id].sort());
    } finally {
      await engine.close();
    }
  });
});

describe('a name held by a container the engine does not list', () => {
  it('fails the start as transient, with the name and what to run on the engine host, after waiting for a create in flight', async () => {
    // What Podman answers when a container in storage only holds the name: create says the name is in
    // use, inspect (a database read) says there is no such container. No removal by name follows.
    const id = newWorkspace();
    const name = containerName(id);
    const calls: string[] = [];
    const engine = await proxyEngine((req, url, res) => {
      const create = req.method === 'POST' && url.pathname.endsWith('/containers/create') && url.searchParams.get('name') === name;
      const inspect = req.method === 'GET' && url.pathname.endsWith(`/containers/${name}/json`);
      if (req.method === 'DELETE' && url.pathname.includes('/containers/')) calls.push(`DELETE ${url.pathname}`);
      if (!create && !inspect) return false;
      calls.push(create ? 'create' : 'inspect');
      res.writeHead(create ? 500 : 404, { 'content-type': 'application/json' });
      res.end(JSON.stringify(create
        ? { cause: 'that name is already in use', message: `creating container storage: the container name "${name}" is already in use by abc. You have to remove that container to be able to reuse that name: that name is already in use`, response: 500 }
        : { cause: 'no such container', message: `no container with name or ID "${name}" found: no such container`, response: 404 }));
      return true;
    });
    try {
      const viaProxy = createDockerCompute({ docker: engine.docker, network: 'host', extraLabels: runLabel, log: silent });
      const err = await viaProxy.startContainer(startReq(id, 'run-a')).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ComputeError);
      expect(err).toMatchObject({ kind: 'transient' });
      expect((err as Error).message).toContain(`the name ${name} is held by a container the engine does not list`);
      expect((err as Error).message).toContain(`podman rm -f ${name}`);
      expect(calls.filter((c) => c === 'create')).toHaveLength(5); // every round, with a wait before the next
      expect(calls.filter((c) => c.startsWith('DELETE'))).toEqual([]);
    } finally {
      await engine.close();
      await compute.removeContainer(id, { removeVolume: true });
    }
  });
});

describe('a container the engine cannot describe, of another workspace', () => {
  it('does not stop this workspace\'s start, stop and remove; the scope-wide listing fails as transient (no evidence)', async () => {
    const engine = await engineWithOneBrokenContainer();
    try {
      const viaBroken = createDockerCompute({ docker: engine.docker, network: 'host', extraLabels: runLabel, log: silent });
      const id = newWorkspace();
      const legacy = await legacyContainer(id, { start: false });
      const started = await viaBroken.startContainer(startReq(id, 'run-a'));
      expect(started.created).toBe(true);
      // The legacy-named container was found through the workspace's own listing, and replaced.
      expect(await engineKnows(legacy.id)).toBe(false);
      expect(await viaBroken.stopContainer(id, { timeoutSeconds: 1 })).toBe('stopped');
      await viaBroken.removeContainer(id, { removeVolume: true });
      expect(await compute.isRunning(id)).toBe('not_found');
      await expect(viaBroken.listManagedContainers()).rejects.toMatchObject({ kind: 'transient' });
    } finally {
      await engine.close();
    }
  });

  it('a container of this scope the engine has no storage for is removed by its id, and the listing answers', async () => {
    const id = newWorkspace();
    const broken = await legacyContainer(id, { start: false });
    const engine = await engineWithOneBrokenContainer({ brokenId: broken.id });
    try {
      const viaBroken = createDockerCompute({ docker: engine.docker, network: 'host', extraLabels: runLabel, log: silent });
      const other = newWorkspace();
      await compute.startContainer(startReq(other, 'run-a'));
      expect((await viaBroken.listManagedContainers()).map((c) => c.workspaceId)).toContain(other);
      expect(await engineKnows(broken.id)).toBe(false);
      await compute.removeContainer(other, { removeVolume: true });
      await docker.getVolume(broken.volume).remove();
    } finally {
      await engine.close();
    }
  });

  it('a listing that failed on a container being removed is taken again: two such failures, then the listing answers', async () => {
    const engine = await engineWithOneBrokenContainer({ failedListings: 2 });
    try {
      const viaRace = createDockerCompute({ docker: engine.docker, network: 'host', extraLabels: runLabel, log: silent });
      const id = newWorkspace();
      await compute.startContainer(startReq(id, 'run-a'));
      expect((await viaRace.listManagedContainers()).map((c) => c.workspaceId)).toContain(id);
      await compute.removeContainer(id, { removeVolume: true });
    } finally {
      await engine.close();
    }
  });
});
