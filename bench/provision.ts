// B2: provision 20 Docker workspaces at once, to `online`, against the same containers created and
// started directly with dockerode in the same run, to their agents' register call (a bare endpoint,
// registration-sink.ts); and one at a time. Each round runs a baseline and a platform burst, in
// alternating order; one pair's ratio swings by ±0.3x on these machines, so the figure is the median
// over the rounds, and every round's ratio is printed beside it.
import { Client, Connection } from '@temporalio/client';
import Docker from 'dockerode';
import { tarFiles } from '../activities/tar';
import { workflowIds } from '../domain/vocabulary';
import { DEFAULT_CONTAINER_LIMITS } from '../config/container-limits';
import { TEST_RUN_LABEL, type TestServers } from '../test/harness/servers';
import { waitFor } from '../test/support/wait-for';
import { percentile, type BenchContext, type BenchStage } from './context';
import { describeCpu, sampleCpu } from './cpu-usage';
import { provisionBreakdown, type ProvisionBurst } from './provision-stages';
import { startRegistrationSink, type RegistrationSink } from './registration-sink';

const BURST = 20;
const LIMITS = DEFAULT_CONTAINER_LIMITS;
const SOLO = 15;

/**
 * Creates, fills and starts one container directly with dockerode. With a sink: the agent registers
 * there, and the answer is the ms until its register call was seen (polled every 50 ms, as the
 * platform's `online` is). Without: a silent agent, and the ms until it read its token.
 */
export async function directContainer(docker: Docker, servers: TestServers, name: string, sink?: RegistrationSink): Promise<number> {
  const t0 = performance.now();
  await docker.createVolume({ Name: `${name}-v`, Labels: { [TEST_RUN_LABEL]: servers.runId } });
  const c = await docker.createContainer({
    name,
    Image: servers.agentImage,
    Env: sink ? [`PLATFORM_URL=${sink.url}`, `WORKSPACE_ID=${name}`, 'HEARTBEAT_INTERVAL=30'] : ['AGENT_BEHAVIOUR=silent'],
    Labels: { [TEST_RUN_LABEL]: servers.runId },
    // The same container the platform makes (its limits and hardening): the figure is orchestration's cost.
    HostConfig: {
      NetworkMode: 'host',
      Binds: [`${name}-v:/configs`],
      RestartPolicy: { Name: 'no' },
      Memory: LIMITS.memoryMb * 1024 * 1024,
      MemorySwap: LIMITS.memoryMb * 1024 * 1024,
      PidsLimit: LIMITS.pidsLimit,
      NanoCpus: Math.round(LIMITS.cpus * 1e9),
      SecurityOpt: ['no-new-privileges'],
      CapDrop: ['ALL'],
    },
  });
  await c.putArchive(tarFiles({ '.auth_token': 'x' }), { path: '/configs' });
  await c.start();
  if (sink) {
    return waitFor('baseline agent registered', async () => (sink.registeredAt(name) !== undefined ? performance.now() - t0 : null), 60_000, 50);
  }
  await waitFor('baseline agent', async () => (await c.logs({ stdout: true, stderr: true })).toString().includes('token file present'), 60_000, 50);
  return performance.now() - t0;
}

/** Provisions `n` Docker workspaces at once through the API; ms from POST to `online` for each. */
export async function platformProvisions(ctx: BenchContext, n: number, label: string): Promise<ProvisionBurst> {
  const started = new Map<string, number>();
  const onlineAt = new Map<string, number>();
  await Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const t0 = performance.now();
      const res = await ctx.api<{ workspace: { id: string } }>('POST', '/workspaces', { name: `${label} ${i}`, compute: 'docker' });
      if (res.status !== 201 && res.status !== 202) throw new Error(`provision of ${label} ${i} answered ${res.status}`);
      started.set(res.body.workspace.id, t0);
    }),
  );
  // `online` is read where the register endpoint writes it, every 50 ms as the baseline polls its logs:
  // one indexed query, so measuring loads neither the API nor the engine.
  const ids = [...started.keys()];
  await waitFor('all online', async () => {
    const { rows } = await ctx.pool.query<{ id: string }>(`SELECT id FROM workspaces WHERE id = ANY($1::uuid[]) AND status = 'online'`, [ids]);
    const now = performance.now();
    for (const { id } of rows) if (!onlineAt.has(id)) onlineAt.set(id, now);
    return onlineAt.size === n || null;
  }, 300_000, 50);
  return { latencies: ids.map((id) => (onlineAt.get(id) as number) - (started.get(id) as number)), ids, started, onlineAt };
}

function merge(into: ProvisionBurst, from: ProvisionBurst): void {
  into.ids.push(...from.ids);
  into.latencies.push(...from.latencies);
  for (const [id, t] of from.started) into.started.set(id, t);
  for (const [id, t] of from.onlineAt) into.onlineAt.set(id, t);
}

/**
 * Waits until the provisions' workflows have closed. The platform's work goes on after `online` (the
 * activity's return, the legacy-name lookup, the workflow's last steps): the next baseline must not run
 * beside it, or the baseline pays for the platform's tail.
 */
async function settled(temporal: Client, ids: string[]): Promise<void> {
  await Promise.all(ids.map((id) => temporal.workflow.getHandle(workflowIds.provision(id)).result()));
}

async function warmUp(ctx: BenchContext, docker: Docker, sink: RegistrationSink, temporal: Client): Promise<void> {
  // Not measured: the engine's first containers and the worker's first workflows pay one-off costs
  // (image layers, workflow bundle, connection pools) that neither side should be judged by. A burst,
  // not one: pools (Postgres, gRPC, activity slots) only grow to a burst's size under one, and the first
  // measured round paid for it (the worst round of every run, by 0.3-0.5x).
  ctx.progress(`B2: warm-up (a burst of ${BURST} each way, not measured)`);
  await Promise.all(Array.from({ length: BURST }, (_, i) => directContainer(docker, ctx.servers, `bench-warmup-${ctx.servers.runId}-${i}`, sink)));
  await settled(temporal, (await platformProvisions(ctx, BURST, 'Bench warm-up')).ids);
}

async function bursts(ctx: BenchContext, docker: Docker, sink: RegistrationSink, temporal: Client): Promise<void> {
  const rounds = ctx.rounds;
  const perRound: Array<{ p50: number; b50: number; p95: number; b95: number; baselineFirst: boolean }> = [];
  const all: ProvisionBurst = { latencies: [], ids: [], started: new Map(), onlineAt: new Map() };
  for (let r = 0; r < rounds; r++) {
    // The order alternates: whichever side goes second finds 20 more containers on the engine (listings
    // and creates cost more with each) and the first side's freshly started agents beside it.
    const baselineBurst = async () => {
      const c0 = sampleCpu();
      const latencies = await Promise.all(Array.from({ length: BURST }, (_, i) => directContainer(docker, ctx.servers, `bench-baseline-${ctx.servers.runId}-${r}-${i}`, sink)));
      return { latencies, cpu: describeCpu(c0, sampleCpu()) };
    };
    const platformBurst = async () => {
      const c0 = sampleCpu();
      const burst = await platformProvisions(ctx, BURST, `Bench Docker ${r}`);
      const cpu = describeCpu(c0, sampleCpu());
      await settled(temporal, burst.ids);
      return { burst, cpu };
    };
    const baselineFirst = r % 2 === 0;
    ctx.progress(`B2: round ${r + 1} of ${rounds}: ${BURST} containers by dockerode and ${BURST} workspaces through the API, ${baselineFirst ? 'dockerode' : 'the API'} first`);
    let baseline: Awaited<ReturnType<typeof baselineBurst>>;
    let platform: Awaited<ReturnType<typeof platformBurst>>;
    if (baselineFirst) {
      baseline = await baselineBurst();
      platform = await platformBurst();
    } else {
      platform = await platformBurst();
      baseline = await baselineBurst();
    }
    merge(all, platform.burst);
    const round = {
      p50: percentile(platform.burst.latencies, 50),
      b50: percentile(baseline.latencies, 50),
      p95: percentile(platform.burst.latencies, 95),
      b95: percentile(baseline.latencies, 95),
      baselineFirst,
    };
    perRound.push(round);
    ctx.progress(`B2: round ${r + 1}: p50 ${Math.round(round.p50)} ms vs ${Math.round(round.b50)} ms (${(round.p50 / round.b50).toFixed(2)}x); CPU baseline ${baseline.cpu}; platform ${platform.cpu}`);
  }
  const median = (xs: number[]) => percentile(xs, 50);
  const ratio50 = median(perRound.map((x) => x.p50 / x.b50));
  const ratio95 = median(perRound.map((x) => x.p95 / x.b95));
  ctx.record({ id: 'B2', what: `provision ${BURST} Docker workspaces to online: p50 (median of ${rounds} rounds)`, value: Math.round(median(perRound.map((x) => x.p50))), unit: 'ms', baseline: Math.round(median(perRound.map((x) => x.b50))), ratio: ratio50, target: '≤ 1.5x', ok: ratio50 <= 1.5 });
  ctx.record({ id: 'B2', what: `provision ${BURST} Docker workspaces to online: p95 (median of ${rounds} rounds)`, value: Math.round(median(perRound.map((x) => x.p95))), unit: 'ms', baseline: Math.round(median(perRound.map((x) => x.b95))), ratio: ratio95 });
  ctx.record({ id: 'B2', what: `p50 ratio of each round (d: dockerode first, a: the API first): ${perRound.map((x) => (x.p50 / x.b50).toFixed(2) + 'x' + (x.baselineFirst ? 'd' : 'a')).join(', ')}`, value: rounds, unit: 'rounds' });
  ctx.progress('B2: reading the stage breakdown off the provision histories');
  await provisionBreakdown(ctx, all, 'burst');
}

async function oneAtATime(ctx: BenchContext, docker: Docker, sink: RegistrationSink, temporal: Client): Promise<void> {
  // The same work one at a time: what the platform adds to one provision when the cores are not shared.
  const soloBaseline: number[] = [];
  const solo: number[] = [];
  const all: ProvisionBurst = { latencies: [], ids: [], started: new Map(), onlineAt: new Map() };
  for (let i = 0; i < SOLO; i++) {
    ctx.progress(`B2: one at a time, ${i + 1} of ${SOLO}`);
    soloBaseline.push(await directContainer(docker, ctx.servers, `bench-solo-${ctx.servers.runId}-${i}`, sink));
    const one = await platformProvisions(ctx, 1, `Bench Solo ${i}`);
    await settled(temporal, one.ids);
    solo.push(...one.latencies);
    merge(all, one);
  }
  const s50 = percentile(solo, 50);
  const sb50 = percentile(soloBaseline, 50);
  await provisionBreakdown(ctx, all, 'one at a time');
  ctx.record({ id: 'B2', what: `one Docker workspace at a time (${SOLO} in a row): p50`, value: Math.round(s50), unit: 'ms', baseline: Math.round(sb50), ratio: s50 / sb50, target: '≤ 1.3x', ok: s50 / sb50 <= 1.3 });
}

export const provision: BenchStage = {
  id: 'B2',
  title: `provision ${BURST} Docker workspaces at once and ${SOLO} one at a time, against dockerode`,
  async run(ctx) {
    const docker = new Docker({ socketPath: ctx.servers.dockerSocket });
    const sink = await startRegistrationSink();
    const connection = await Connection.connect({ address: ctx.servers.temporalAddress });
    const temporal = new Client({ connection, namespace: ctx.servers.temporalNamespace });
    try {
      await warmUp(ctx, docker, sink, temporal);
      await bursts(ctx, docker, sink, temporal);
      await oneAtATime(ctx, docker, sink, temporal);
    } finally {
      await connection.close();
      await sink.close();
    }
  },
};
