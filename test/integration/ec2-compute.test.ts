// activities/ec2-compute.ts against moto's EC2 server (started by the jest global setup), plus:
//   - a second moto this file starts and then stops, for "the endpoint died" answers;
//   - a small HTTP server answering EC2-format errors that moto never produces (503, throttling,
//     InvalidAMIID, a Terminate that "succeeds" while the instance keeps running). The real SDK
//     parses those answers; nothing in the client is stubbed.
// Every instance launched here carries the tag molecule.test.run=<runId>.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { DescribeInstanceAttributeCommand, DescribeInstancesCommand, EC2Client, type Instance } from '@aws-sdk/client-ec2';
import { CLIENT_TOKEN_TAG, createEc2Compute, type Ec2ComputeDeps } from '../../activities/ec2-compute';
import { ComputeError } from '../../domain/errors';
import { containerName, MANAGED_LABEL, PROVISION_RUN_LABEL, WORKSPACE_ID_LABEL } from '../../domain/vocabulary';
import { freePort } from '../harness/processes';
import { TEST_RUN_LABEL, testServers } from '../harness/servers';

const servers = testServers();
const runTag = { [TEST_RUN_LABEL]: servers.runId };
const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };
const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };
const MOTO_SERVER = join(__dirname, '..', '..', '.venv', 'bin', 'moto_server');

const clients: EC2Client[] = [];
function client(endpoint: string, maxAttempts?: number): EC2Client {
  const c = new EC2Client({ region: 'us-east-1', endpoint, credentials, ...(maxAttempts ? { maxAttempts } : {}) });
  clients.push(c);
  return c;
}
const ec2Client = client(servers.ec2Endpoint);
function adapter(overrides: Partial<Ec2ComputeDeps> = {}) {
  return createEc2Compute({ ec2: ec2Client, amiId: servers.ec2AmiId, instanceType: 't3.micro', extraTags: runTag, log: silent, ...overrides });
}
const ec2 = adapter();

function launchReq(workspaceId = randomUUID(), clientToken = `ct-${randomUUID()}`) {
  return { workspaceId, clientToken, userData: '#!/bin/sh\necho "agent boot"\n', provisionRunId: `run-${clientToken.slice(3, 11)}` };
}

async function instancesTagged(key: string, value: string): Promise<Instance[]> {
  const out = await ec2Client.send(new DescribeInstancesCommand({ Filters: [{ Name: `tag:${key}`, Values: [value] }], MaxResults: 1000 }));
  return (out.Reservations ?? []).flatMap((r) => r.Instances ?? []);
}
const live = (list: Instance[]) => list.filter((i) => !['terminated', 'shutting-down'].includes(i.State?.Name ?? ''));

afterAll(async () => {
  // Terminate everything this file launched on the shared moto (the harness stops moto afterwards anyway).
  for (const i of await ec2.listManagedInstances().catch(() => [])) await ec2.terminateInstance(i.instanceId).catch(() => undefined);
  for (const c of clients) c.destroy();
});

describe('launchInstance', () => {
  it('launches with the tags, client token and base64 user data', async () => {
    const req = launchReq();
    const { instanceId, created } = await ec2.launchInstance(req);
    expect(created).toBe(true);
    expect(instanceId).toMatch(/^i-[0-9a-f]+$/);
    const [inst] = await instancesTagged(CLIENT_TOKEN_TAG, req.clientToken);
    expect(inst.InstanceId).toBe(instanceId);
    expect(inst.ImageId).toBe(servers.ec2AmiId);
    expect(inst.InstanceType).toBe('t3.micro');
    const tags = Object.fromEntries((inst.Tags ?? []).map((t) => [t.Key, t.Value]));
    expect(tags).toEqual({
      Name: containerName(req.workspaceId),
      [MANAGED_LABEL]: 'true',
      [WORKSPACE_ID_LABEL]: req.workspaceId,
      [PROVISION_RUN_LABEL]: req.provisionRunId,
      [CLIENT_TOKEN_TAG]: req.clientToken,
      [TEST_RUN_LABEL]: servers.runId,
    });
    const attr = await ec2Client.send(new DescribeInstanceAttributeCommand({ InstanceId: instanceId, Attribute: 'userData' }));
    expect(Buffer.from(attr.UserData?.Value ?? '', 'base64').toString('utf8')).toBe(req.userData);
  });

  it('a repeated launch with the same client token yields the same single instance', async () => {
    const req = launchReq();
    const first = await ec2.launchInstance(req);
    const second = await ec2.launchInstance(req);
    const third = await ec2.launchInstance({ ...req, provisionRunId: 'a-retry-never-changes-the-token' });
    expect(second).toEqual({ instanceId: first.instanceId, created: false });
    expect(third).toEqual({ instanceId: first.instanceId, created: false });
    expect(await instancesTagged(CLIENT_TOKEN_TAG, req.clientToken)).toHaveLength(1);
  });

  it('a different client token launches another instance', async () => {
    const workspaceId = randomUUID();
    const a = await ec2.launchInstance(launchReq(workspaceId));
    const b = await ec2.launchInstance(launchReq(workspaceId));
    expect(b.created).toBe(true);
    expect(b.instanceId).not.toBe(a.instanceId);
    expect(live(await instancesTagged(WORKSPACE_ID_LABEL, workspaceId))).toHaveLength(2);
  });

  it('concurrent launches with one token converge on exactly one live instance', async () => {
    // moto ignores ClientToken, so racing attempts can all launch; the adapter keeps one.
    const req = launchReq();
    const results = await Promise.all([1, 2, 3].map(() => ec2.launchInstance(req)));
    const survivors = live(await instancesTagged(CLIENT_TOKEN_TAG, req.clientToken));
    expect(survivors).toHaveLength(1);
    expect(results.map((r) => r.instanceId)).toContain(survivors[0].InstanceId);
    expect(await ec2.launchInstance(req)).toEqual({ instanceId: survivors[0].InstanceId, created: false });
  });

  it('a terminated instance does not satisfy its client token', async () => {
    const req = launchReq();
    const first = await ec2.launchInstance(req);
    expect(await ec2.terminateInstance(first.instanceId)).toBe('terminated');
    const again = await ec2.launchInstance(req);
    expect(again.created).toBe(true);
    expect(again.instanceId).not.toBe(first.instanceId);
  });

  it('validates the client token (1-64 printable ASCII) and user data size before calling EC2', async () => {
    const workspaceId = randomUUID();
    for (const clientToken of ['', 'x'.repeat(65), 'has space', 'ünïcode', 'tab\t']) {
      await expect(ec2.launchInstance({ ...launchReq(workspaceId), clientToken })).rejects.toMatchObject({ kind: 'invalid' });
    }
    await expect(ec2.launchInstance({ ...launchReq(workspaceId), userData: 'x'.repeat(16 * 1024 + 1) })).rejects.toMatchObject({ kind: 'invalid' });
    expect(await instancesTagged(WORKSPACE_ID_LABEL, workspaceId)).toHaveLength(0);
    const ok = await ec2.launchInstance(launchReq(workspaceId, `t${'x'.repeat(63)}`)); // exactly 64
    expect(ok.created).toBe(true);
  });
});

describe('state, waiting, termination', () => {
  it('describeState and waitRunning follow the instance; terminate is confirmed by DescribeInstances', async () => {
    const { instanceId } = await ec2.launchInstance(launchReq());
    expect(['pending', 'running']).toContain(await ec2.describeState(instanceId));
    let polls = 0;
    await ec2.waitRunning(instanceId, { timeoutMs: 30_000, pollMs: 50, onPoll: () => polls++ });
    expect(polls).toBeGreaterThanOrEqual(1);
    expect(await ec2.describeState(instanceId)).toBe('running');
    expect((await ec2.consoleOutput(instanceId)).length).toBeGreaterThan(0);

    expect(await ec2.terminateInstance(instanceId)).toBe('terminated');
    expect(['shutting-down', 'terminated']).toContain(await ec2.describeState(instanceId));
    expect(await ec2.terminateInstance(instanceId)).toBe('terminated'); // idempotent
    await expect(ec2.waitRunning(instanceId, { timeoutMs: 5_000, pollMs: 50 })).rejects.toMatchObject({ kind: 'invalid' });
  });

  it('an unknown instance id is not_found everywhere, never an error or a success', async () => {
    const unknown = 'i-0123456789abcdef0';
    expect(await ec2.describeState(unknown)).toBe('not_found');
    expect(await ec2.terminateInstance(unknown)).toBe('not_found');
    expect(await ec2.consoleOutput(unknown)).toBe('');
    await expect(ec2.waitRunning(unknown, { timeoutMs: 300, pollMs: 50 })).rejects.toMatchObject({ kind: 'transient' });
  });
});

describe('listManagedInstances', () => {
  it('lists this scope\'s non-terminated instances with workspace ids, across pages', async () => {
    const paged = adapter({ pageSize: 5 });
    const launched: Array<{ workspaceId: string; instanceId: string }> = [];
    for (let i = 0; i < 7; i++) {
      const req = launchReq();
      launched.push({ workspaceId: req.workspaceId, instanceId: (await paged.launchInstance(req)).instanceId });
    }
    const gone = launched.pop()!;
    await paged.terminateInstance(gone.instanceId);

    const listed = await paged.listManagedInstances();
    for (const l of launched) expect(listed).toContainEqual({ instanceId: l.instanceId, workspaceId: l.workspaceId, state: expect.stringMatching(/^(pending|running)$/), launchTime: expect.any(Date) });
    expect(listed.map((i) => i.instanceId)).not.toContain(gone.instanceId);
    expect(new Set(listed.map((i) => i.instanceId)).size).toBe(listed.length);
    expect(await ec2.listManagedInstances()).toEqual(expect.arrayContaining(listed));

    // Another scope sees none of them.
    const other = adapter({ extraTags: { [TEST_RUN_LABEL]: `other-${servers.runId}` } });
    expect(await other.listManagedInstances()).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------------

describe('a moto that stops answering', () => {
  let moto: ChildProcess | null = null;
  afterAll(() => {
    if (moto && moto.exitCode === null) moto.kill('SIGKILL');
  });

  it('terminate, describe, wait and list throw transient: a dead endpoint is never "terminated"', async () => {
    const port = await freePort();
    moto = spawn(MOTO_SERVER, ['-H', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
    const endpoint = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 30_000;
    for (;;) {
      const up = await fetch(`${endpoint}/moto-api/`).then((r) => r.ok, () => false);
      if (up) break;
      if (Date.now() > deadline) throw new Error('private moto did not start');
      await new Promise((r) => setTimeout(r, 200));
    }
    // Any AMI this moto knows: the same catalogue as the shared one.
    const own = createEc2Compute({ ec2: client(endpoint, 1), amiId: servers.ec2AmiId, instanceType: 't3.micro', extraTags: runTag, log: silent });
    const { instanceId } = await own.launchInstance(launchReq());
    expect(await own.describeState(instanceId)).toMatch(/^(pending|running)$/);

    const exited = new Promise((r) => moto!.once('exit', r));
    moto.kill('SIGTERM');
    await exited;

    const err = await own.terminateInstance(instanceId).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ComputeError);
    expect(err).toMatchObject({ kind: 'transient' });
    await expect(own.describeState(instanceId)).rejects.toMatchObject({ kind: 'transient' });
    await expect(own.listManagedInstances()).rejects.toMatchObject({ kind: 'transient' });
    await expect(own.launchInstance(launchReq())).rejects.toMatchObject({ kind: 'transient' });
    await expect(own.ping()).rejects.toMatchObject({ kind: 'transient' });
    await expect(own.waitRunning(instanceId, { timeoutMs: 300, pollMs: 50 })).rejects.toMatchObject({ kind: 'transient' });
    expect(await own.consoleOutput(instanceId)).toBe('');
  });
});

describe('EC2 error answers moto never gives', () => {
  type Answer = { status: number; body: string };
  const xmlError = (status: number, code: string): Answer => ({
    status,
    body: `<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>${code}</Code><Message>injected</Message></Error></Errors><RequestID>req-1</RequestID></Response>`,
  });
  const ns = 'xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"';
  const stillRunning: Answer = {
    status: 200,
    body: `<DescribeInstancesResponse ${ns}><requestId>r</requestId><reservationSet><item><reservationId>r-1</reservationId><ownerId>1</ownerId><instancesSet><item><instanceId>i-0aaaaaaaaaaaaaaaa</instanceId><instanceState><code>16</code><name>running</name></instanceState></item></instancesSet></item></reservationSet></DescribeInstancesResponse>`,
  };
  const terminateAccepted: Answer = {
    status: 200,
    body: `<TerminateInstancesResponse ${ns}><requestId>r</requestId><instancesSet><item><instanceId>i-0aaaaaaaaaaaaaaaa</instanceId><currentState><code>32</code><name>shutting-down</name></currentState><previousState><code>16</code><name>running</name></previousState></item></instancesSet></TerminateInstancesResponse>`,
  };
  let answers: Record<string, Answer> = {};
  let server: Server;
  let endpoint = '';

  beforeAll(async () => {
    server = createServer((req: IncomingMessage, res: ServerResponse) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        const action = new URLSearchParams(body).get('Action') ?? '';
        const answer = answers[action] ?? answers['*'] ?? xmlError(500, 'InternalError');
        res.writeHead(answer.status, { 'content-type': answer.body.startsWith('<html') ? 'text/html' : 'text/xml' });
        res.end(answer.body);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  const faulty = () => createEc2Compute({ ec2: client(endpoint, 1), amiId: 'ami-12345678', instanceType: 't3.micro', log: silent });

  it('a Terminate 5xx is transient, never success (the reference leaked instances that way)', async () => {
    for (const answer of [xmlError(503, 'Unavailable'), xmlError(500, 'InternalError'), { status: 502, body: '<html><title>bad gateway</title></html>' }]) {
      answers = { '*': answer };
      await expect(faulty().terminateInstance('i-0aaaaaaaaaaaaaaaa')).rejects.toMatchObject({ kind: 'transient' });
    }
  });

  it('throttling is transient whatever its status code', async () => {
    for (const answer of [xmlError(503, 'RequestLimitExceeded'), xmlError(400, 'Throttling')]) {
      answers = { '*': answer };
      await expect(faulty().terminateInstance('i-0aaaaaaaaaaaaaaaa')).rejects.toMatchObject({ kind: 'transient' });
      await expect(faulty().describeState('i-0aaaaaaaaaaaaaaaa')).rejects.toMatchObject({ kind: 'transient' });
    }
  });

  it('a Terminate that answers 200 while DescribeInstances still says running is not success', async () => {
    answers = { TerminateInstances: terminateAccepted, DescribeInstances: stillRunning };
    await expect(faulty().terminateInstance('i-0aaaaaaaaaaaaaaaa')).rejects.toMatchObject({ kind: 'transient' });
  });

  it('InvalidAMIID is image_missing; InvalidInstanceID.* is not_found; other 4xx are invalid', async () => {
    answers = { RunInstances: xmlError(400, 'InvalidAMIID.NotFound'), DescribeInstances: { status: 200, body: `<DescribeInstancesResponse ${ns}><requestId>r</requestId><reservationSet/></DescribeInstancesResponse>` } };
    await expect(faulty().launchInstance(launchReq())).rejects.toMatchObject({ kind: 'image_missing' });
    answers = { '*': xmlError(400, 'InvalidAMIID.Malformed') };
    await expect(faulty().ping()).rejects.toMatchObject({ kind: 'image_missing' });
    answers = { '*': xmlError(400, 'InvalidInstanceID.Malformed') };
    expect(await faulty().terminateInstance('bogus')).toBe('not_found');
    expect(await faulty().describeState('bogus')).toBe('not_found');
    answers = { '*': xmlError(401, 'AuthFailure') };
    await expect(faulty().terminateInstance('i-0aaaaaaaaaaaaaaaa')).rejects.toMatchObject({ kind: 'invalid' });
  });
});
