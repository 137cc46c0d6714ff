// The only code that talks to EC2. Every call is idempotent (a Temporal activity may run it twice or
// die at any line):
//   - launches carry a ClientToken. Real EC2 honours it (a repeated RunInstances with the same token
//     returns the first instance). moto 5.x does NOT: it records the token on the instance but launches
//     a new one for every call, and its DescribeInstances `client-token` filter answers a 500. So the
//     token is also put in a tag, and launchInstance first looks for a live instance carrying it:
//     belt and braces for emulators, harmless on real EC2.
//   - termination is only reported once DescribeInstances says shutting-down/terminated (or the id is
//     unknown). The reference platform treated a Terminate 5xx as success and leaked instances.
// Errors are classified once (classifyEc2Error): never guess "gone" from an error that is not a
// definite InvalidInstanceID.
import {
  DescribeImagesCommand,
  DescribeInstancesCommand,
  GetConsoleOutputCommand,
  RunInstancesCommand,
  TerminateInstancesCommand,
  type _InstanceType,
  type EC2Client,
  type Filter,
  type Instance,
} from '@aws-sdk/client-ec2';
import { ComputeError } from '../domain/errors';
import { containerName, MANAGED_LABEL, PROVISION_RUN_LABEL, WORKSPACE_ID_LABEL } from '../domain/vocabulary';
import type { Ec2ComputePort } from './compute-ports';
import { boundedText, sleep } from './compute-util';
import type { MinimalLogger } from './docker-compute';

export const CLIENT_TOKEN_TAG = 'molecule.client-token';
/** consoleOutput returns at most this many bytes (the newest ones). */
export const MAX_CONSOLE_BYTES = 16 * 1024;
/** EC2 limits user data to 16 KiB before base64 encoding. */
export const MAX_USER_DATA_BYTES = 16 * 1024;
/** EC2: "a unique, case-sensitive identifier ... Maximum 64 ASCII characters". Printable, no spaces. */
const CLIENT_TOKEN_RE = /^[\x21-\x7e]{1,64}$/;

export const EC2_INSTANCE_STATES = ['pending', 'running', 'stopping', 'stopped', 'shutting-down', 'terminated'] as const;
export type Ec2InstanceState = (typeof EC2_INSTANCE_STATES)[number];
const LIVE_STATES: Ec2InstanceState[] = ['pending', 'running', 'stopping', 'stopped'];

export interface Ec2ComputeDeps {
  ec2: EC2Client;
  amiId: string;
  instanceType: string;
  /** Put on every instance AND used to scope listManagedInstances (deployments / test runs sharing an account). */
  extraTags?: Record<string, string>;
  log: MinimalLogger;
  /** DescribeInstances page size for tag lookups (5-1000, default 500); every page is read. */
  pageSize?: number;
}

export interface LaunchInstanceRequest {
  workspaceId: string;
  /** ≤ 64 printable ASCII characters; the same token always yields the same instance. */
  clientToken: string;
  /** Plain text; base64-encoded here. */
  userData: string;
  provisionRunId: string;
}

export interface ManagedInstance {
  instanceId: string;
  workspaceId: string | null;
  state: string;
  /** When EC2 launched it (null if it did not say): the sweeper's grace for instances a live row does not name. */
  launchTime: Date | null;
}

export interface Ec2Compute extends Ec2ComputePort {
  launchInstance(req: LaunchInstanceRequest): Promise<{ instanceId: string; created: boolean }>;
  describeState(instanceId: string): Promise<Ec2InstanceState | 'not_found'>;
  listManagedInstances(): Promise<ManagedInstance[]>;
}

interface AwsError {
  name?: string;
  Code?: string;
  code?: string;
  message?: string;
  $fault?: 'client' | 'server';
  $metadata?: { httpStatusCode?: number };
}

function awsError(err: unknown): AwsError {
  return (typeof err === 'object' && err !== null ? err : {}) as AwsError;
}

const THROTTLING = /^(Throttling|ThrottlingException|RequestLimitExceeded|RequestThrottled|RequestThrottledException|TooManyRequestsException|SlowDown|PriorRequestNotComplete|BandwidthLimitExceeded)$/;
/** Server-side conditions AWS reports with a 4xx or 5xx code that a later retry can clear. */
const RETRYABLE_CODES = /^(InternalError|InternalFailure|ServiceUnavailable|Unavailable|InsufficientInstanceCapacity|InsufficientCapacity|RequestExpired|RequestTimeout|RequestTimeoutException|TimeoutError|IDPCommunicationError)$/;

/**
 * Maps any error from the EC2 client to a ComputeError:
 *   InvalidInstanceID.* → not_found; InvalidAMIID.* → image_missing;
 *   throttling, 5xx, server faults, and network failures (no HTTP status at all) → transient;
 *   any other 4xx → invalid (a retry cannot help: bad parameters, credentials, permissions).
 */
export function classifyEc2Error(err: unknown): ComputeError {
  if (err instanceof ComputeError) return err;
  const e = awsError(err);
  const code = e.Code ?? (e.name && e.name !== 'Error' ? e.name : '') ?? '';
  const httpStatus = e.$metadata?.httpStatusCode;
  const label = code || (httpStatus ? `HTTP ${httpStatus}` : e.code || 'network error');
  if (code.startsWith('InvalidInstanceID')) return new ComputeError('not_found', `ec2: instance not found (${code})`, httpStatus);
  if (code.startsWith('InvalidAMIID')) return new ComputeError('image_missing', `ec2: AMI not available (${code})`, httpStatus);
  if (THROTTLING.test(code) || RETRYABLE_CODES.test(code)) return new ComputeError('transient', `ec2: ${label}`, httpStatus);
  if (httpStatus === undefined || httpStatus >= 500 || e.$fault === 'server') return new ComputeError('transient', `ec2: ${label}`, httpStatus);
  if (httpStatus >= 400) return new ComputeError('invalid', `ec2 rejected the request (${label})`, httpStatus);
  return new ComputeError('transient', `ec2: unexpected answer (${label})`, httpStatus);
}

function tagValue(instance: Instance, key: string): string | null {
  return instance.Tags?.find((t) => t.Key === key)?.Value ?? null;
}

function stateOf(instance: Instance | null): Ec2InstanceState | 'not_found' {
  if (!instance) return 'not_found';
  const name = instance.State?.Name;
  if (name && (EC2_INSTANCE_STATES as readonly string[]).includes(name)) return name as Ec2InstanceState;
  throw new ComputeError('transient', `ec2: instance ${instance.InstanceId} reported an unknown state`);
}

/** Deterministic winner among duplicates: oldest launch, then smallest id (every caller picks the same). */
function byAge(a: Instance, b: Instance): number {
  const ta = a.LaunchTime ? new Date(a.LaunchTime).getTime() : 0;
  const tb = b.LaunchTime ? new Date(b.LaunchTime).getTime() : 0;
  return ta - tb || String(a.InstanceId).localeCompare(String(b.InstanceId));
}

export function createEc2Compute(deps: Ec2ComputeDeps): Ec2Compute {
  const { ec2, log } = deps;
  const extraTags = deps.extraTags ?? {};
  // moto pages DescribeInstances at 100 by default; real EC2 may page too. Every page is read.
  const pageSize = Math.max(5, Math.min(1000, deps.pageSize ?? 500));

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
      return (out.Reservations ?? []).flatMap((r) => r.Instances ?? []).find((i) => i.InstanceId === instanceId) ?? null;
    } catch (err) {
      if (err instanceof ComputeError && err.kind === 'not_found') return null;
      throw err;
    }
  }

  /** Every instance matching the filters, all pages. */
  async function find(filters: Filter[]): Promise<Instance[]> {
    const found: Instance[] = [];
    const tokens = new Set<string>();
    let NextToken: string | undefined;
    do {
      const out = await call(() => ec2.send(new DescribeInstancesCommand({ Filters: filters, MaxResults: pageSize, NextToken })));
      for (const r of out.Reservations ?? []) found.push(...(r.Instances ?? []));
      NextToken = out.NextToken || undefined;
      if (NextToken && tokens.has(NextToken)) throw new ComputeError('transient', 'ec2: DescribeInstances repeated a page token');
      if (NextToken) tokens.add(NextToken);
    } while (NextToken);
    return found;
  }

  const liveWithToken = (clientToken: string) =>
    find([
      { Name: `tag:${CLIENT_TOKEN_TAG}`, Values: [clientToken] },
      { Name: 'instance-state-name', Values: LIVE_STATES },
    ]).then((list) => list.filter((i) => i.InstanceId && LIVE_STATES.includes(stateOf(i) as Ec2InstanceState)).sort(byAge));

  return {
    async ping() {
      if (deps.amiId) {
        const out = await call(() => ec2.send(new DescribeImagesCommand({ ImageIds: [deps.amiId] })));
        if (!(out.Images ?? []).some((i) => i.ImageId === deps.amiId)) throw new ComputeError('image_missing', 'ec2: configured AMI not found');
      } else {
        await call(() => ec2.send(new DescribeInstancesCommand({ MaxResults: 5 })));
      }
    },

    async launchInstance(req) {
      if (!CLIENT_TOKEN_RE.test(req.clientToken)) throw new ComputeError('invalid', 'ec2: client token must be 1-64 printable ASCII characters');
      if (!req.workspaceId) throw new ComputeError('invalid', 'ec2: workspace id is required');
      if (Buffer.byteLength(req.userData, 'utf8') > MAX_USER_DATA_BYTES) throw new ComputeError('invalid', 'ec2: user data exceeds 16 KiB');

      // Real EC2 would return the first instance for this ClientToken by itself; emulators do not.
      const existing = await liveWithToken(req.clientToken);
      if (existing.length > 0) {
        const instanceId = existing[0].InstanceId as string;
        log.info({ workspaceId: req.workspaceId, instanceId }, 'instance already launched for this client token');
        return { instanceId, created: false };
      }

      const tags: Record<string, string> = {
        ...extraTags,
        Name: containerName(req.workspaceId),
        [MANAGED_LABEL]: 'true',
        [WORKSPACE_ID_LABEL]: req.workspaceId,
        [PROVISION_RUN_LABEL]: req.provisionRunId,
        [CLIENT_TOKEN_TAG]: req.clientToken,
      };
      const out = await call(() =>
        ec2.send(
          new RunInstancesCommand({
            ImageId: deps.amiId,
            InstanceType: deps.instanceType as _InstanceType,
            MinCount: 1,
            MaxCount: 1,
            ClientToken: req.clientToken,
            UserData: Buffer.from(req.userData, 'utf8').toString('base64'),
            // IMDSv2 only, one hop: a process in a container on the instance (or an SSRF through the
            // agent) cannot read the instance's metadata and role credentials with a plain GET.
            MetadataOptions: { HttpTokens: 'required', HttpPutResponseHopLimit: 1, HttpEndpoint: 'enabled' },
            TagSpecifications: [{ ResourceType: 'instance', Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) }],
          }),
        ),
      );
      const launched = out.Instances?.[0]?.InstanceId;
      if (!launched) throw new ComputeError('transient', 'ec2: RunInstances returned no instance');

      // Two attempts racing past the lookup (possible only where ClientToken is ignored) launch two
      // instances; both callers then agree on the oldest one and terminate the rest.
      // (A listing that does not show our new instance yet counts it as the newest.)
      const siblings = await liveWithToken(req.clientToken).catch(() => [] as Instance[]);
      if (!siblings.some((i) => i.InstanceId === launched)) siblings.push({ InstanceId: launched, LaunchTime: new Date(8.64e15) });
      siblings.sort(byAge);
      const winner = siblings[0].InstanceId as string;
      for (const extra of siblings.slice(1)) {
        log.warn({ workspaceId: req.workspaceId, instanceId: extra.InstanceId, kept: winner }, 'terminating duplicate instance for one client token');
        await call(() => ec2.send(new TerminateInstancesCommand({ InstanceIds: [extra.InstanceId as string] }))).catch((err: unknown) =>
          log.error({ instanceId: extra.InstanceId, err: (err as Error).message }, 'duplicate instance termination failed; the orphan sweeper will retry'),
        );
      }
      log.info({ workspaceId: req.workspaceId, instanceId: winner, created: winner === launched }, 'instance launched');
      return { instanceId: winner, created: winner === launched };
    },

    async findRunInstances(workspaceId, runId) {
      const found = await find([
        { Name: `tag:${WORKSPACE_ID_LABEL}`, Values: [workspaceId] },
        { Name: `tag:${PROVISION_RUN_LABEL}`, Values: [runId] },
        ...Object.entries(extraTags).map(([k, v]) => ({ Name: `tag:${k}`, Values: [v] })),
        { Name: 'instance-state-name', Values: LIVE_STATES },
      ]);
      return [...new Set(found.filter((i) => i.InstanceId && LIVE_STATES.includes(stateOf(i) as Ec2InstanceState)).map((i) => i.InstanceId as string))];
    },

    async describeState(instanceId) {
      return stateOf(await describe(instanceId));
    },

    async waitRunning(instanceId, opts) {
      const deadline = Date.now() + opts.timeoutMs;
      const pollMs = Math.max(10, opts.pollMs ?? 2000);
      let lastError: ComputeError | null = null;
      let lastState: Ec2InstanceState | 'not_found' = 'not_found';
      for (;;) {
        opts.onPoll?.();
        try {
          lastState = stateOf(await describe(instanceId));
          lastError = null;
        } catch (err) {
          // A transient blip while waiting is not a verdict: keep polling until the deadline.
          lastError = classifyEc2Error(err);
          if (lastError.kind !== 'transient') throw lastError;
          log.warn({ instanceId, err: lastError.message }, 'describe failed while waiting for running');
        }
        if (!lastError) {
          if (lastState === 'running') return;
          // 'not_found' right after launch is EC2's eventual consistency; keep waiting for it.
          if (lastState !== 'pending' && lastState !== 'not_found') {
            throw new ComputeError('invalid', `ec2: instance ${instanceId} is ${lastState} instead of starting`);
          }
        }
        const remaining = deadline - Date.now();
        if (remaining <= 0) {
          throw lastError ?? new ComputeError('transient', `ec2: instance ${instanceId} not running after ${opts.timeoutMs} ms (last state ${lastState})`);
        }
        await sleep(Math.min(pollMs, remaining));
      }
    },

    async terminateInstance(instanceId) {
      try {
        await call(() => ec2.send(new TerminateInstancesCommand({ InstanceIds: [instanceId] })));
      } catch (err) {
        if (err instanceof ComputeError && err.kind === 'not_found') return 'not_found';
        throw err; // a 5xx, throttling or a dead endpoint is NOT success
      }
      // The Terminate answer alone decides nothing: DescribeInstances must confirm.
      for (let attempt = 0; attempt < 5; attempt++) {
        const state = stateOf(await describe(instanceId));
        if (state === 'shutting-down' || state === 'terminated' || state === 'not_found') return 'terminated';
        await sleep(200 * 2 ** attempt);
      }
      throw new ComputeError('transient', `ec2: instance ${instanceId} not shutting down after terminate`);
    },

    async consoleOutput(instanceId) {
      try {
        const out = await call(() => ec2.send(new GetConsoleOutputCommand({ InstanceId: instanceId })));
        if (!out.Output) return '';
        return boundedText(Buffer.from(out.Output, 'base64'), MAX_CONSOLE_BYTES);
      } catch (err) {
        // Diagnostics only: unavailable output is '' rather than a failure of the caller.
        log.warn({ instanceId, err: (err as Error).message }, 'console output unavailable');
        return '';
      }
    },

    async listManagedInstances() {
      const instances = await find([
        { Name: `tag:${MANAGED_LABEL}`, Values: ['true'] },
        ...Object.entries(extraTags).map(([k, v]) => ({ Name: `tag:${k}`, Values: [v] })),
        { Name: 'instance-state-name', Values: [...LIVE_STATES, 'shutting-down'] },
      ]);
      const seen = new Set<string>();
      const result: ManagedInstance[] = [];
      for (const i of instances) {
        if (!i.InstanceId || seen.has(i.InstanceId) || i.State?.Name === 'terminated') continue;
        seen.add(i.InstanceId);
        result.push({ instanceId: i.InstanceId, workspaceId: tagValue(i, WORKSPACE_ID_LABEL), state: i.State?.Name ?? 'unknown', launchTime: i.LaunchTime ?? null });
      }
      return result;
    },
  };
}
