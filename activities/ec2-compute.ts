// The only code that talks to EC2. Idempotent launches (ClientToken, plus a lookup by a client-token
// tag because moto — unlike real EC2 — ignores ClientToken), and termination that is only reported
// once DescribeInstances confirms it: the reference leaked instances by treating a Terminate 5xx as
// success.
import {
  DescribeInstancesCommand,
  DescribeImagesCommand,
  GetConsoleOutputCommand,
  RunInstancesCommand,
  TerminateInstancesCommand,
  type EC2Client,
  type Instance,
} from '@aws-sdk/client-ec2';
import { ComputeError } from '../domain/errors';
import { containerName, MANAGED_LABEL, PROVISION_RUN_LABEL, WORKSPACE_ID_LABEL } from '../domain/vocabulary';
import type { Ec2ComputePort } from './compute-ports';
import type { MinimalLogger } from './docker-compute';

export const CLIENT_TOKEN_TAG = 'molecule.client-token';
const MAX_CONSOLE_BYTES = 16 * 1024;

export interface Ec2ComputeDeps {
  ec2: EC2Client;
  amiId: string;
  instanceType: string;
  extraTags?: Record<string, string>;
  log: MinimalLogger;
}

interface AwsError {
  name?: string;
  Code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  $retryable?: unknown;
}

function awsError(err: unknown): AwsError {
  return (typeof err === 'object' && err !== null ? err : {}) as AwsError;
}

/** Maps an AWS error to a ComputeError kind. Anything unclassified is transient: retry, never assume. */
export function classifyEc2Error(err: unknown): ComputeError {
  const e = awsError(err);
  const code = e.name ?? e.Code ?? '';
  const status = e.$metadata?.httpStatusCode;
  if (code.startsWith('InvalidInstanceID')) return new ComputeError('not_found', 'instance not found', status);
  if (code.startsWith('InvalidAMIID')) return new ComputeError('image_missing', 'AMI not found', status);
  if (status !== undefined && status >= 400 && status < 500 && !/Throttl|RequestLimitExceeded/i.test(code)) {
    return new ComputeError('invalid', `ec2 rejected the request (${code || status})`, status);
  }
  return new ComputeError('transient', `ec2 call failed (${code || status || 'network'})`, status);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function createEc2Compute(deps: Ec2ComputeDeps): Ec2ComputePort {
  const { ec2, log } = deps;
  const extraTags = deps.extraTags ?? {};

  async function call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw classifyEc2Error(err);
    }
  }

  async function describe(instanceId: string): Promise<Instance | null> {
    try {
      const out = await call(() => ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] })));
      return out.Reservations?.[0]?.Instances?.[0] ?? null;
    } catch (err) {
      if (err instanceof ComputeError && err.kind === 'not_found') return null;
      throw err;
    }
  }

  async function findByTags(filters: Record<string, string>): Promise<Instance[]> {
    const out = await call(() =>
      ec2.send(new DescribeInstancesCommand({ Filters: Object.entries(filters).map(([k, v]) => ({ Name: `tag:${k}`, Values: [v] })) })),
    );
    return (out.Reservations ?? []).flatMap((r) => r.Instances ?? []);
  }

  return {
    async ping() {
      await call(() => ec2.send(new DescribeImagesCommand({ ImageIds: deps.amiId ? [deps.amiId] : undefined, MaxResults: deps.amiId ? undefined : 5 })));
    },

    async launchInstance(req) {
      if (!/^[\x21-\x7e]{1,64}$/.test(req.clientToken)) throw new ComputeError('invalid', 'client token must be 1-64 printable ASCII chars');
      // Real EC2 returns the first instance for a repeated ClientToken; emulators may not, so look first.
      const existing = (await findByTags({ [CLIENT_TOKEN_TAG]: req.clientToken })).find(
        (i) => i.State?.Name !== 'terminated' && i.State?.Name !== 'shutting-down',
      );
      if (existing?.InstanceId) return { instanceId: existing.InstanceId, created: false };
      const tags = {
        Name: containerName(req.workspaceId),
        [MANAGED_LABEL]: 'true',
        [WORKSPACE_ID_LABEL]: req.workspaceId,
        [PROVISION_RUN_LABEL]: req.provisionRunId,
        [CLIENT_TOKEN_TAG]: req.clientToken,
        ...extraTags,
      };
      const out = await call(() =>
        ec2.send(
          new RunInstancesCommand({
            ImageId: deps.amiId,
            InstanceType: deps.instanceType as never,
            MinCount: 1,
            MaxCount: 1,
            ClientToken: req.clientToken,
            UserData: Buffer.from(req.userData, 'utf8').toString('base64'),
            TagSpecifications: [{ ResourceType: 'instance', Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) }],
          }),
        ),
      );
      const instanceId = out.Instances?.[0]?.InstanceId;
      if (!instanceId) throw new ComputeError('transient', 'RunInstances returned no instance');
      log.info({ workspaceId: req.workspaceId, instanceId }, 'instance launched');
      return { instanceId, created: true };
    },

    async describeState(instanceId) {
      const inst = await describe(instanceId);
      return inst?.State?.Name ?? 'not_found';
    },

    async waitRunning(instanceId, opts) {
      const deadline = Date.now() + opts.timeoutMs;
      for (;;) {
        opts.onPoll?.();
        const state = (await describe(instanceId))?.State?.Name ?? 'not_found';
        if (state === 'running') return;
        if (state !== 'pending') throw new ComputeError('invalid', `instance entered state ${state} while starting`);
        if (Date.now() > deadline) throw new ComputeError('transient', 'instance did not reach running in time');
        await sleep(opts.pollMs ?? 1000);
      }
    },

    async terminateInstance(instanceId) {
      try {
        await call(() => ec2.send(new TerminateInstancesCommand({ InstanceIds: [instanceId] })));
      } catch (err) {
        if (err instanceof ComputeError && err.kind === 'not_found') return 'not_found';
        throw err; // a 5xx is NOT success
      }
      // Only DescribeInstances decides that it is gone.
      const state = (await describe(instanceId))?.State?.Name ?? 'not_found';
      if (state === 'not_found') return 'not_found';
      if (state === 'terminated' || state === 'shutting-down') return 'terminated';
      throw new ComputeError('transient', `instance still ${state} after terminate`);
    },

    async consoleOutput(instanceId) {
      try {
        const out = await call(() => ec2.send(new GetConsoleOutputCommand({ InstanceId: instanceId, Latest: true })));
        const text = out.Output ? Buffer.from(out.Output, 'base64').toString('utf8') : '';
        return text.length > MAX_CONSOLE_BYTES ? text.slice(-MAX_CONSOLE_BYTES) : text;
      } catch {
        return '';
      }
    },

    async listManagedInstances() {
      const filters = { [MANAGED_LABEL]: 'true', ...extraTags };
      const instances = await findByTags(filters);
      return instances
        .filter((i) => i.InstanceId && i.State?.Name !== 'terminated')
        .map((i) => ({
          instanceId: i.InstanceId as string,
          workspaceId: i.Tags?.find((t) => t.Key === WORKSPACE_ID_LABEL)?.Value ?? null,
          state: i.State?.Name ?? 'unknown',
        }));
    },
  };
}
