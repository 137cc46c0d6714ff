// Where B2's time goes. Each provision's moments are put on one timeline, in the order they happen:
// the POST (this process), the workflow's events (the Temporal server), the container's start (the
// engine's State.StartedAt) and `online` as first seen in the row. All are wall clocks of this one
// machine. The stages are the gaps between consecutive moments, so they are never negative and add up
// to the whole; startCompute's own return is reported apart, because the agent often registers before
// the activity's completion reaches the server (the two overlap, they do not follow each other).
import { Client, Connection } from '@temporalio/client';
import Docker from 'dockerode';
import { containerName, workflowIds } from '../domain/vocabulary';
import { percentile, type BenchContext } from './context';

export interface ProvisionBurst {
  latencies: number[];
  ids: string[];
  /** performance.now() at each POST, by workspace id. */
  started: Map<string, number>;
  /** performance.now() when each was first seen online. */
  onlineAt: Map<string, number>;
}

const STAGES = [
  'POST to workflow started',
  'workflow started to first workflow task',
  'local activities (prepare, mint, mark) to startCompute scheduled',
  'startCompute scheduled to started (task queue)',
  'startCompute started to container started (volume, files, create, start)',
  'container started to agent registered (boot + register call)',
  'registered to online seen in the row',
] as const;

export async function provisionBreakdown(ctx: BenchContext, burst: ProvisionBurst, label: string): Promise<void> {
  const connection = await Connection.connect({ address: ctx.servers.temporalAddress });
  const client = new Client({ connection, namespace: ctx.servers.temporalNamespace });
  const docker = new Docker({ socketPath: ctx.servers.dockerSocket });
  const epochOffset = Date.now() - performance.now();
  const gaps: number[][] = STAGES.map(() => []);
  const returnAfterRegister: number[] = [];
  try {
    for (const id of burst.ids) {
      const history = await client.workflow.getHandle(workflowIds.provision(id)).fetchHistory();
      type HistoryEvent = NonNullable<typeof history.events>[number];
      const at = (e: HistoryEvent | undefined) => (e?.eventTime?.seconds ? Number(e.eventTime.seconds) * 1000 + (e.eventTime.nanos ?? 0) / 1e6 : NaN);
      const events = history.events ?? [];
      const scheduled = events.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'startCompute');
      const scheduledId = scheduled?.eventId?.toString();
      const activityStarted = events.find((e) => e.activityTaskStartedEventAttributes?.scheduledEventId?.toString() === scheduledId);
      const completed = events.find((e) => e.activityTaskCompletedEventAttributes?.scheduledEventId?.toString() === scheduledId);
      const registered = events.find((e) => e.workflowExecutionSignaledEventAttributes);
      const info = await docker.getContainer(containerName(id)).inspect();
      const moments = [
        (burst.started.get(id) as number) + epochOffset,
        at(events[0]),
        at(events.find((e) => e.workflowTaskStartedEventAttributes)),
        at(scheduled),
        at(activityStarted),
        Date.parse(info.State.StartedAt),
        at(registered),
        (burst.onlineAt.get(id) as number) + epochOffset,
      ];
      if (moments.some((m) => !Number.isFinite(m))) continue;
      for (let i = 0; i < STAGES.length; i++) gaps[i].push(Math.max(0, moments[i + 1] - moments[i]));
      returnAfterRegister.push(at(completed) - at(registered));
    }
  } finally {
    await connection.close();
  }
  STAGES.forEach((stage, i) => ctx.record({ id: 'B2', what: `${label} stage p50: ${stage}`, value: Math.round(percentile(gaps[i], 50)), unit: 'ms' }));
  const late = returnAfterRegister.filter((ms) => ms > 0);
  ctx.record({ id: 'B2', what: `${label}: startCompute's completion reached the server after the agent registered (overlap, not a stage)`, value: late.length, unit: `of ${returnAfterRegister.length} provisions (p50 ${Math.round(percentile(late.length ? late : [0], 50))} ms later)` });
}
