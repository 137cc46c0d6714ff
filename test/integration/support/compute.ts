// Observations of the real compute servers, shared by the integration tests.
import { DescribeInstanceAttributeCommand, DescribeInstancesCommand, type Instance } from '@aws-sdk/client-ec2';
import { configVolumeName, containerName, WORKSPACE_ID_LABEL } from '../../../domain/vocabulary';
import type { Platform } from './platform';
import { waitFor } from './platform';

function notFound(err: unknown): boolean {
  return (err as { statusCode?: number }).statusCode === 404;
}

export async function containerExists(p: Platform, workspaceId: string): Promise<boolean> {
  return p.docker.getContainer(containerName(workspaceId)).inspect().then(
    () => true,
    (err) => (notFound(err) ? false : Promise.reject(err)),
  );
}

export async function volumeExists(p: Platform, workspaceId: string): Promise<boolean> {
  return p.docker.getVolume(configVolumeName(workspaceId)).inspect().then(
    () => true,
    (err) => (notFound(err) ? false : Promise.reject(err)),
  );
}

export async function removeWorkspaceContainer(p: Platform, workspaceId: string): Promise<void> {
  await p.docker.getContainer(containerName(workspaceId)).remove({ force: true }).catch(() => undefined);
  await p.docker.getVolume(configVolumeName(workspaceId)).remove().catch(() => undefined);
}

export async function instancesOf(p: Platform, workspaceId: string): Promise<Instance[]> {
  const out = await p.ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: `tag:${WORKSPACE_ID_LABEL}`, Values: [workspaceId] }] }));
  return (out.Reservations ?? []).flatMap((r) => r.Instances ?? []);
}

/** What an instance's user data says: the bootstrap values cloud-init writes to /configs/bootstrap.env. */
export async function bootstrapFromUserData(p: Platform, instanceId: string): Promise<{ script: string; values: Record<string, string> }> {
  const attr = await p.ec2.send(new DescribeInstanceAttributeCommand({ InstanceId: instanceId, Attribute: 'userData' }));
  const script = Buffer.from(attr.UserData?.Value ?? '', 'base64').toString('utf8');
  const values = Object.fromEntries([...script.matchAll(/^(PLATFORM_URL|WORKSPACE_ID|BOOTSTRAP_CREDENTIAL)=(.*)$/gm)].map((m) => [m[1], m[2]]));
  return { script, values };
}

/** The exchange an instance's agent makes once at boot: its tokens by instance, so tests may ask again. */
const exchanged = new Map<string, string>();

/** Plays the VM's agent: reads the bootstrap credential from user data and exchanges it for its token. */
export async function tokenFromUserData(p: Platform, instanceId: string): Promise<string> {
  const known = exchanged.get(instanceId);
  if (known) return known;
  const { values } = await bootstrapFromUserData(p, instanceId);
  if (!values.BOOTSTRAP_CREDENTIAL || !values.WORKSPACE_ID) throw new Error('user data carries no bootstrap credential');
  const res = await p.api<{ auth_token: string }>('POST', '/registry/bootstrap', { workspace_id: values.WORKSPACE_ID }, values.BOOTSTRAP_CREDENTIAL);
  if (res.status !== 200) throw new Error(`bootstrap exchange answered ${res.status}`);
  exchanged.set(instanceId, res.body.auth_token);
  return res.body.auth_token;
}

/** Creates a workspace through the API and waits until it is online (registering as the agent for EC2). */
export async function createOnline(p: Platform, body: Record<string, unknown>): Promise<string> {
  const res = await p.api<{ workspace: { id: string } }>('POST', '/workspaces', body);
  if (res.status !== 202) throw new Error(`create answered ${res.status}`);
  const id = res.body.workspace.id;
  if (body.compute === 'ec2') {
    const instanceId = await waitFor('instance id', async () => {
      const { rows } = await p.clients.pool.query('SELECT instance_id FROM workspaces WHERE id = $1', [id]);
      return rows[0].instance_id as string | null;
    });
    const token = await tokenFromUserData(p, instanceId);
    await waitFor('ec2 agent registered', async () => (await p.api('POST', '/registry/register', { workspace_id: id }, token)).status === 200);
  }
  // The registry writes `online` as the agent registers; wait for the provision workflow to finish too.
  await p.temporal.workflow.getHandle(`provision-${id}`).result();
  await waitFor(`${String(body.name)} online`, async () => (await p.api<{ status: string }>('GET', `/workspaces/${id}`)).body.status === 'online');
  return id;
}

/** Reads /configs/.auth_token out of a workspace container (first entry of the tar the API returns). */
export async function readTokenFile(p: Platform, workspaceId: string): Promise<string> {
  const stream = await p.docker.getContainer(containerName(workspaceId)).getArchive({ path: '/configs/.auth_token' });
  const chunks: Buffer[] = [];
  for await (const c of stream as AsyncIterable<Buffer>) chunks.push(c);
  const tar = Buffer.concat(chunks);
  const size = parseInt(tar.subarray(124, 136).toString('ascii').replace(/\0/g, '').trim(), 8);
  return tar.subarray(512, 512 + size).toString('utf8');
}
