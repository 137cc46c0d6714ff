// Proves the servers jest's global setup started are the real ones and answer the way the platform
// relies on: Temporal (namespace + our search attributes), Podman's Docker Engine API (image, volume,
// a file written BEFORE start, labels, host networking, stop, remove), moto's EC2 API, and the run's
// migrated Postgres database. Everything made here carries the run label and is removed again.
// Alone: npx jest --runInBand --selectProjects integration -- test/integration/harness.test.ts
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeImagesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import Docker from 'dockerode';
import { Client } from 'pg';
import { SEARCH_ATTRIBUTE_NAMES } from '../../domain/vocabulary';
import { TEST_RUN_LABEL, testServers } from '../harness/servers';
import { waitFor } from '../support/wait-for';

const servers = testServers();


/** A tar archive holding one file, made by the system tar (independent of the platform's tar writer). */
function tarOf(name: string, content: string): Buffer {
  const dir = mkdtempSync(join(tmpdir(), 'harness-tar-'));
  try {
    writeFileSync(join(dir, name), content);
    const r = spawnSync('tar', ['-C', dir, '-cf', '-', name]);
    if (r.status !== 0) throw new Error(`tar failed: ${r.stderr}`);
    return r.stdout;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('test harness servers', () => {
  it('state names this run and a pre-bundled workflow file', () => {
    expect(servers.runId).toMatch(/^[0-9a-f]+$/);
    expect(existsSync(servers.workflowBundlePath)).toBe(true);
    expect(existsSync(servers.temporalBinary)).toBe(true);
  });

  it('Temporal dev server: the namespace answers and lists our Keyword search attributes', async () => {
    const connection = await Connection.connect({ address: servers.temporalAddress });
    try {
      const ns = await connection.workflowService.describeNamespace({ namespace: servers.temporalNamespace });
      expect(ns.namespaceInfo?.name).toBe(servers.temporalNamespace);
      const sa = await connection.operatorService.listSearchAttributes({ namespace: servers.temporalNamespace });
      for (const name of SEARCH_ATTRIBUTE_NAMES) {
        expect(sa.customAttributes?.[name]).toBe(temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD);
      }
    } finally {
      await connection.close();
    }
  });

  it('Podman Docker API: a labelled volume gets the token file before start, the agent sees it, stop and remove work', async () => {
    const docker = new Docker({ socketPath: servers.dockerSocket });
    const version = await docker.version();
    expect(version.ApiVersion).toBeTruthy();

    const suffix = randomBytes(4).toString('hex');
    const labels = { [TEST_RUN_LABEL]: servers.runId };
    const volumeName = `harness-${servers.runId}-${suffix}`;
    const containerName = `harness-${servers.runId}-${suffix}`;
    await docker.createVolume({ Name: volumeName, Labels: labels });
    const container = await docker.createContainer({
      name: containerName,
      Image: servers.agentImage,
      Env: ['AGENT_BEHAVIOUR=silent', 'WORKSPACE_ID=harness', 'PLATFORM_URL=http://127.0.0.1:9'],
      Labels: labels,
      HostConfig: { Binds: [`${volumeName}:/configs`], NetworkMode: 'host' },
    });
    try {
      // The file goes into the volume through the (created, not yet started) container's mount.
      await container.putArchive(tarOf('.auth_token', 'harness-token'), { path: '/configs' });
      await container.start();
      const logs = await waitFor('the agent to report its token', async () => {
        const text = (await container.logs({ stdout: true, stderr: true, follow: false })).toString('utf8');
        return text.includes('agent: silent') ? text : null;
      }, 20_000, 200);
      expect(logs).toContain('agent: token file present');

      const running = await container.inspect();
      expect(running.State.Running).toBe(true);
      expect(running.Config.Labels).toMatchObject(labels);
      expect(running.HostConfig.NetworkMode).toBe('host');
      const listed = await docker.listContainers({ filters: { label: [`${TEST_RUN_LABEL}=${servers.runId}`] } });
      expect(listed.map((c) => c.Id)).toContain(container.id);

      await container.stop({ t: 5 }); // the agent traps SIGTERM as PID 1, so this is quick
      const stopped = await container.inspect();
      expect(stopped.State.Running).toBe(false);
      expect(stopped.State.ExitCode).toBe(0);
      await expect(container.stop()).rejects.toMatchObject({ statusCode: 304 });
    } finally {
      await container.remove({ force: true }).catch(() => undefined);
      await docker.getVolume(volumeName).remove().catch(() => undefined);
    }
    await expect(container.inspect()).rejects.toMatchObject({ statusCode: 404 });
    await expect(docker.getVolume(volumeName).inspect()).rejects.toMatchObject({ statusCode: 404 });
  });

  it('moto EC2 API: DescribeImages lists the AMI the harness picked', async () => {
    const ec2 = new EC2Client({ region: 'us-east-1', endpoint: servers.ec2Endpoint, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
    try {
      const images = await ec2.send(new DescribeImagesCommand({ ImageIds: [servers.ec2AmiId] }));
      expect(images.Images?.map((i) => i.ImageId)).toEqual([servers.ec2AmiId]);
    } finally {
      ec2.destroy();
    }
  });

  it("Postgres: the run's own database exists and is migrated", async () => {
    const db = new Client({ connectionString: servers.databaseUrl });
    await db.connect();
    try {
      const { rows } = await db.query<{ name: string }>('SELECT current_database() AS name');
      expect(rows[0]?.name).toBe(`molecule_test_${servers.runId}`);
      const applied = await db.query('SELECT version FROM schema_migrations');
      expect(applied.rowCount).toBeGreaterThan(0);
    } finally {
      await db.end();
    }
  });
});
