// B6 (issue #19): an org of 10,000 workspaces (external agents, 50 of them Docker) imported and deleted
// through the API, against hand-written direct SQL writing (and removing) the same rows. Besides wall
// time it reads every workflow history the import and the delete produced and holds them to
// Temporal's limits: under 10,000 events per run and 256 KB per payload.
import { Client, Connection } from '@temporalio/client';
import type { temporal as proto } from '@temporalio/proto';
import Docker from 'dockerode';
import type { Pool, PoolClient } from 'pg';
import { WORKSPACE_ID_LABEL, workflowIds } from '../domain/vocabulary';
import { TEST_RUN_LABEL } from '../test/harness/servers';
import { historyStats } from '../test/support/history-stats';
import { waitFor } from '../test/support/wait-for';
import { peakRssMb, percentile, type BenchContext, type BenchStage } from './context';
import { directContainer } from './provision';
import { bulkImport, rowByRowImport } from './sql-baselines';

const TOTAL = 10_000;
const DOCKER = 50;
/** Children per node by level: 1 root, 9, 90, 900, 9,000 (10,000 in all, five levels). */
const FANOUT = [9, 10, 10, 10];
const MAX_EVENTS = 10_000;
const MAX_PAYLOAD_BYTES = 256 * 1024;
const MAX_RSS_MB = 400;
/** 1 + 9 + 90 + 900: the warm-up tree. */
const WARM_UP_FANOUT = [9, 10, 10];
/** Runs of each side of the rows figure. */
const ROW_RUNS = 3;

interface TemplateNode {
  name: string;
  runtime: string;
  compute?: 'docker';
  canvas: { x: number; y: number };
  children?: TemplateNode[];
}

/** The tree; the first `inDockerCount` leaves run in Docker, everything else is an external agent. */
function scaleTemplate(name: string, inDockerCount = DOCKER, fanout = FANOUT): { name: string; workspaces: TemplateNode[] } {
  let docker = 0;
  const node = (label: string, depth: number, i: number): TemplateNode => {
    const leaf = depth === fanout.length;
    const inDocker = leaf && docker < inDockerCount && ++docker > 0;
    return {
      name: label,
      runtime: inDocker ? 'hermes' : 'external',
      ...(inDocker ? { compute: 'docker' as const } : {}),
      canvas: { x: i, y: depth },
      ...(leaf ? {} : { children: Array.from({ length: fanout[depth] }, (_, j) => node(`${label}.${j}`, depth + 1, j)) }),
    };
  };
  return { name, workspaces: [node(`${name}`, 0, 0)] };
}

/** bench/run.ts B4's baseline: the delete's Postgres steps for a whole tree in one transaction. */
async function deleteBaseline(client: PoolClient, rootId: string): Promise<void> {
  await client.query('BEGIN');
  const { rows } = await client.query<{ id: string }>(
    `WITH RECURSIVE tree AS (SELECT id FROM workspaces WHERE id = $1 UNION ALL SELECT w.id FROM workspaces w JOIN tree t ON w.parent_id = t.id)
     UPDATE workspaces w SET status = 'removed', removed_at = now() FROM tree WHERE w.id = tree.id RETURNING w.id`,
    [rootId],
  );
  const list = rows.map((r) => r.id);
  await client.query('DELETE FROM canvas_layouts WHERE workspace_id = ANY($1::uuid[])', [list]);
  await client.query('UPDATE workspace_auth_tokens SET revoked_at = now() WHERE workspace_id = ANY($1::uuid[])', [list]);
  await client.query('UPDATE workspace_schedules SET enabled = false WHERE workspace_id = ANY($1::uuid[])', [list]);
  await client.query(`INSERT INTO structure_events (event_type, workspace_id) SELECT 'WORKSPACE_REMOVED', unnest($1::uuid[])`, [list]);
  await client.query('COMMIT');
}

const eventMs = (e: proto.api.history.v1.IHistoryEvent | undefined) => Number(e?.eventTime?.seconds?.toString() ?? 0) * 1000 + Math.floor((e?.eventTime?.nanos ?? 0) / 1e6);

/** Where a run's time went: per activity type (scheduled to completed, summed) and its children's span. */
async function breakdown(client: Client, workflowId: string): Promise<Array<[string, number]>> {
  const events = (await client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
  const byId = new Map(events.map((e) => [e.eventId?.toString(), e]));
  const spent = new Map<string, number>();
  const add = (name: string, ms: number) => spent.set(name, (spent.get(name) ?? 0) + ms);
  let firstChild = 0;
  let lastChild = 0;
  for (const e of events) {
    const done = e.activityTaskCompletedEventAttributes;
    const scheduled = done ? byId.get(done.scheduledEventId?.toString()) : undefined;
    if (scheduled) add(scheduled.activityTaskScheduledEventAttributes?.activityType?.name ?? '?', eventMs(e) - eventMs(scheduled));
    if (e.startChildWorkflowExecutionInitiatedEventAttributes && !firstChild) firstChild = eventMs(e);
    if (e.childWorkflowExecutionCompletedEventAttributes) lastChild = eventMs(e);
  }
  if (firstChild) add('child workflows (first started to last completed)', lastChild - firstChild);
  add('whole run', eventMs(events[events.length - 1]) - eventMs(events[0]));
  return [...spent.entries()];
}

/**
 * The compute children's activities, per type: how many, and at the median and the slowest, how long each
 * waited in the task queue (scheduled to started) and ran (started to completed).
 */
async function childActivityTimes(client: Client, workflowId: string): Promise<Array<[string, number]>> {
  const parent = (await client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
  const children = parent.map((e) => e.childWorkflowExecutionStartedEventAttributes?.workflowExecution?.workflowId).filter((id): id is string => !!id);
  const waits = new Map<string, number[]>();
  const runs = new Map<string, number[]>();
  const push = (m: Map<string, number[]>, k: string, v: number) => {
    const xs = m.get(k) ?? [];
    xs.push(v);
    m.set(k, xs);
  };
  for (const child of children) {
    const events = (await client.workflow.getHandle(child).fetchHistory()).events ?? [];
    const byId = new Map(events.map((e) => [e.eventId?.toString(), e]));
    for (const e of events) {
      const done = e.activityTaskCompletedEventAttributes ?? e.activityTaskFailedEventAttributes;
      if (!done) continue;
      const scheduled = byId.get(done.scheduledEventId?.toString());
      const started = byId.get(done.startedEventId?.toString());
      const type = scheduled?.activityTaskScheduledEventAttributes?.activityType?.name ?? '?';
      push(waits, type, eventMs(started) - eventMs(scheduled));
      push(runs, type, eventMs(e) - eventMs(started));
    }
  }
  const out: Array<[string, number]> = [];
  for (const [type, ran] of runs) {
    const waited = waits.get(type) ?? [];
    out.push([`${type} x${ran.length}: queue wait p50`, percentile(waited, 50)], [`${type}: queue wait max`, Math.max(...waited)]);
    out.push([`${type}: ran p50`, percentile(ran, 50)], [`${type}: ran max`, Math.max(...ran)]);
  }
  return out;
}

/** Epoch ms of the import's last level created and of its close, read off its history(s). */
async function importTimes(client: Client, workflowId: string): Promise<{ rowsCreatedAt: number; closedAt: number }> {
  const ms = (t: { seconds?: { toString(): string } | null; nanos?: number | null } | null | undefined) => Number(t?.seconds?.toString() ?? 0) * 1000 + Math.floor((t?.nanos ?? 0) / 1e6);
  let rowsCreatedAt = 0;
  let closedAt = 0;
  let runId: string | undefined = (await client.workflow.getHandle(workflowId).describe()).runId;
  while (runId) {
    const events: proto.api.history.v1.IHistoryEvent[] = (await client.workflow.getHandle(workflowId, runId).fetchHistory()).events ?? [];
    const levels = new Set(events.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'createImportLevel').map((e) => e.eventId?.toString()));
    for (const e of events) {
      if (levels.has(e.activityTaskCompletedEventAttributes?.scheduledEventId?.toString())) rowsCreatedAt = Math.max(rowsCreatedAt, ms(e.eventTime));
    }
    closedAt = Math.max(closedAt, ms(events[events.length - 1]?.eventTime));
    runId = events[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId || undefined;
  }
  return { rowsCreatedAt, closedAt };
}

/** One import of an all-external tree through the API: POST to the commit of its last level (from its history). */
async function externalImportRowsMs(ctx: BenchContext, temporal: Client, template: { name: string; workspaces: TemplateNode[] }): Promise<number> {
  const epoch0 = Date.now();
  const res = await ctx.api<{ import_id: string }>('POST', '/org/import', { template });
  if (res.status !== 202) throw new Error(`B6 import answered ${res.status}: ${JSON.stringify(res.body).slice(0, 300)}`);
  const importId = res.body.import_id;
  await waitFor(
    'B6 external import',
    async () => ((await ctx.api<{ status: string }>('GET', `/org/imports/${importId}?items_limit=0`)).body.status !== 'running' ? true : null),
    120_000,
    500,
  );
  return (await importTimes(temporal, workflowIds.orgImport(importId))).rowsCreatedAt - epoch0;
}

/** What the delete does to compute, done directly: stop (same 10 s grace), remove, remove the volume. */
async function removeDirectly(docker: Docker, names: string[]): Promise<void> {
  await Promise.all(
    names.map(async (name) => {
      const c = docker.getContainer(name);
      await c.stop({ t: 10 }).catch(() => undefined);
      await c.remove({ force: true });
      await docker.getVolume(`${name}-v`).remove();
    }),
  );
}

type HistoryFigures = { runs: number; maxEvents: number; maxEventsOf: string; maxPayload: number; maxPayloadOf: string };

/**
 * Every run of `workflowId` (the continue-as-new chain, walked back from the latest run) and, through
 * their child-started events, every child's runs, recursively.
 */
async function collectHistories(client: Client, workflowId: string, figures: HistoryFigures, seen = new Set<string>()): Promise<void> {
  if (seen.has(workflowId)) return;
  seen.add(workflowId);
  let runId: string | undefined = (await client.workflow.getHandle(workflowId).describe()).runId;
  while (runId) {
    const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
    const stats = historyStats(history);
    figures.runs++;
    if (stats.events > figures.maxEvents) Object.assign(figures, { maxEvents: stats.events, maxEventsOf: workflowId });
    if (stats.maxEventPayloadBytes > figures.maxPayload) {
      Object.assign(figures, { maxPayload: stats.maxEventPayloadBytes, maxPayloadOf: `${workflowId} (${stats.maxEventKind.replace('EventAttributes', '')})` });
    }
    for (const e of history.events ?? []) {
      const child = e.childWorkflowExecutionStartedEventAttributes?.workflowExecution?.workflowId;
      if (child) await collectHistories(client, child, figures, seen);
    }
    runId = history.events?.[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId || undefined;
  }
}

function recordHistories(ctx: BenchContext, what: string, f: HistoryFigures): void {
  ctx.record({ id: 'B6', what: `${what}: most events in one run (${f.runs} runs read; ${f.maxEventsOf})`, value: f.maxEvents, unit: 'events', target: `< ${MAX_EVENTS}`, ok: f.maxEvents < MAX_EVENTS });
  ctx.record({ id: 'B6', what: `${what}: largest payload of one event (${f.maxPayloadOf})`, value: f.maxPayload, unit: 'bytes', target: '< 256 KB', ok: f.maxPayload < MAX_PAYLOAD_BYTES });
}

function recordRss(ctx: BenchContext, when: string): void {
  for (const [name, proc] of [['API', ctx.apiProc], ['worker', ctx.workerProc]] as const) {
    const mb = peakRssMb(proc.pid as number);
    ctx.record({ id: 'B6', what: `peak RSS of the ${name} process (through ${when})`, value: mb, unit: 'MB', target: `< ${MAX_RSS_MB} MB`, ok: mb < MAX_RSS_MB });
  }
}

/** The tables an import writes. */
const IMPORT_TABLES = ['workspaces', 'workspace_auth_tokens', 'canvas_layouts', 'org_import_items', 'structure_events', 'org_imports'];

/**
 * Vacuums and analyzes the tables an import writes before each measured run, on either side: each run
 * adds 10,000 rows (the row-by-row script too), enough for Postgres to start an autovacuum of those tables,
 * which then ran on the same two cores as whichever run came next (the import, in this stage's order).
 */
async function settle(pool: Pool): Promise<void> {
  // Not while they are empty: statistics of empty tables make the foreign-key checks of the next 10,000
  // inserts scan instead of probe (one bulk run took 13-16 s after that).
  const { rows } = await pool.query<{ any: boolean }>('SELECT EXISTS (SELECT 1 FROM workspaces) AS any');
  if (rows[0].any) await pool.query(`VACUUM (ANALYZE) ${IMPORT_TABLES.join(', ')}`);
}

export const b6Scale: BenchStage = {
  id: 'B6',
  title: 'an org of 10,000 workspaces (50 in Docker): import and delete vs direct SQL, history and payload bounds, RSS',
  run: async (ctx) => {
    const connection = await Connection.connect({ address: ctx.servers.temporalAddress });
    const temporal = new Client({ connection, namespace: ctx.servers.temporalNamespace });
    try {
      // Rows created, platform against bulk SQL: the same all-external tree, runs alternating, each after
      // a vacuum; the medians are compared (one run of either swung by 30-50 % between bench runs).
      // A warm-up of each side first, not measured (as B2 does): with `--only B6` nothing has run the
      // import's code in the API and the worker yet (in a whole run B1 has), nor the script's.
      ctx.progress('B6: warm-up: 1,000 rows by bulk SQL and through POST /org/import');
      await bulkImport(ctx.pool, scaleTemplate('B6 Warm', 0, WARM_UP_FANOUT), '-bulk');
      await externalImportRowsMs(ctx, temporal, scaleTemplate('B6 Warm Import', 0, WARM_UP_FANOUT));
      const bulkRuns: number[] = [];
      const platformRuns: number[] = [];
      for (let i = 0; i < ROW_RUNS; i++) {
        ctx.progress(`B6: rows, run ${i + 1} of ${ROW_RUNS}: 10,000 rows by bulk SQL, then through POST /org/import`);
        await settle(ctx.pool);
        bulkRuns.push(await bulkImport(ctx.pool, scaleTemplate(`B6 Bulk ${i}`, 0), '-bulk'));
        await settle(ctx.pool);
        platformRuns.push(await externalImportRowsMs(ctx, temporal, scaleTemplate(`B6 External ${i}`, 0)));
      }
      const bulkMs = percentile(bulkRuns, 50);
      const platformRowsMs = percentile(platformRuns, 50);
      const runsOf = (xs: number[]) => `ms (runs: ${xs.map((ms) => Math.round(ms)).join(', ')})`;
      ctx.record({ id: 'B6', what: `bulk SQL baseline, median of ${ROW_RUNS} runs`, value: Math.round(bulkMs), unit: runsOf(bulkRuns) });
      ctx.record({
        id: 'B6',
        what: `import 10,000 external, POST until all rows exist, median of ${ROW_RUNS} runs (alternating with the baseline's)`,
        value: Math.round(platformRowsMs),
        unit: runsOf(platformRuns),
        baseline: Math.round(bulkMs),
        ratio: platformRowsMs / bulkMs,
        target: '≤ 1.5x bulk SQL',
        ok: platformRowsMs / bulkMs <= 1.5,
      });
      ctx.progress('B6: baseline: 10,000 rows written a row at a time');
      const rowMs = await rowByRowImport(ctx.pool, scaleTemplate('B6 Row').workspaces, '-row');

      const template = scaleTemplate('B6 Org');
      const bodyBytes = Buffer.byteLength(JSON.stringify({ template }));
      ctx.progress(`B6: import 10,000 (${Math.round(bodyBytes / 1024)} KB template)`);
      await settle(ctx.pool);
      const t0 = performance.now();
      const epoch0 = Date.now();
      const res = await ctx.api<{ import_id: string; error?: string }>('POST', '/org/import', { template });
      const postMs = performance.now() - t0;
      if (res.status !== 202) throw new Error(`B6 import answered ${res.status}: ${JSON.stringify(res.body).slice(0, 300)}`);
      const importId = res.body.import_id;
      let lastCreated = -1;
      // Polled for counts only (?items_limit=0), once a second: the figures come from the workflow
      // history's event times, not from when a poll noticed.
      type View = { status: string; created_count: number; progress: { created: number; provisioned: number } | null };
      const view = await waitFor(
        'B6 import',
        async () => {
          const v = (await ctx.api<View>('GET', `/org/imports/${importId}?items_limit=0`)).body;
          const created = v.progress?.created ?? v.created_count;
          if (created !== lastCreated) ctx.progress(`B6: import 10,000: ${created.toLocaleString('en')} created, ${v.progress?.provisioned ?? 0} of ${DOCKER} Docker provisioned`);
          lastCreated = created;
          return v.status !== 'running' ? v : null;
        },
        600_000,
        1_000,
      );
      if (view.status !== 'completed' || view.created_count !== TOTAL) throw new Error(`B6 import ended ${view.status} with ${view.created_count} created`);
      const times = await importTimes(temporal, workflowIds.orgImport(importId));
      const rowsMs = times.rowsCreatedAt - epoch0;
      const ms = times.closedAt - epoch0;
      ctx.record({ id: 'B6', what: 'POST /org/import of the 10,000-workspace template: answered', value: Math.round(postMs), unit: 'ms' });
      ctx.record({ id: 'B6', what: 'import 10,000 (50 Docker): all rows created (from POST), one run', value: Math.round(rowsMs), unit: 'ms', baseline: Math.round(bulkMs), ratio: rowsMs / bulkMs });
      ctx.record({ id: 'B6', what: 'import 10,000 (50 Docker): done, 50 containers online (from POST)', value: Math.round(ms), unit: 'ms', baseline: Math.round(bulkMs), ratio: ms / bulkMs, target: '< 30 s', ok: ms < 30_000 });
      // B1's baseline (workspaces, tokens, layouts, events; a statement per row), against the rows figure:
      // the whole import also starts 50 containers, which no SQL script does.
      ctx.record({ id: 'B6', what: 'import 10,000: all rows created, vs B1\'s row-by-row script (second baseline)', value: Math.round(rowsMs), unit: 'ms', baseline: Math.round(rowMs), ratio: rowsMs / rowMs });
      ctx.record({ id: 'B6', what: 'import throughput', value: Math.round(TOTAL / (ms / 1000)), unit: 'workspaces/s' });

      for (const [name, spentMs] of await breakdown(temporal, workflowIds.orgImport(importId))) {
        ctx.record({ id: 'B6', what: `import, where the time went: ${name}`, value: spentMs, unit: 'ms' });
      }
      ctx.progress('B6: reading the import histories');
      const importFigures: HistoryFigures = { runs: 0, maxEvents: 0, maxEventsOf: '', maxPayload: 0, maxPayloadOf: '' };
      await collectHistories(temporal, workflowIds.orgImport(importId), importFigures);
      recordHistories(ctx, 'import histories', importFigures);
      recordRss(ctx, 'the import');

      const { rows: roots } = await ctx.pool.query<{ id: string }>(`SELECT id FROM workspaces WHERE org_import_id = $1 AND parent_id IS NULL`, [importId]);
      const { rows: dockerRows } = await ctx.pool.query<{ id: string }>(`SELECT id FROM workspaces WHERE org_import_id = $1 AND compute = 'docker'`, [importId]);
      const { rows: bulkRoot } = await ctx.pool.query<{ id: string }>(`SELECT id FROM workspaces WHERE name = 'B6 Bulk 0-bulk' AND parent_id IS NULL`);

      ctx.progress('B6: baseline: delete 10,000 rows by SQL');
      const client = await ctx.pool.connect();
      const d0 = performance.now();
      try {
        await deleteBaseline(client, bulkRoot[0].id);
      } finally {
        client.release();
      }
      const deleteBaselineMs = performance.now() - d0;
      // The org's delete also stops and removes 50 containers: the fair baseline does that too, directly.
      ctx.progress('B6: baseline: stop and remove 50 containers directly');
      const docker = new Docker({ socketPath: ctx.servers.dockerSocket });
      // Running agents, as the org's are: a container that exited at start (no token file) makes the
      // stop a no-op, and the baseline looked 0.7 s cheaper than stopping 50 live agents costs.
      const direct = Array.from({ length: DOCKER }, (_, i) => `b6-baseline-${ctx.servers.runId}-${i}`);
      await Promise.all(direct.map((name) => directContainer(docker, ctx.servers, name)));
      const running = await docker.listContainers({ filters: { label: [`${TEST_RUN_LABEL}=${ctx.servers.runId}`], status: ['running'] } });
      const live = direct.filter((name) => running.some((c) => c.Names?.includes(`/${name}`))).length;
      if (live !== DOCKER) throw new Error(`B6 baseline: ${live} of ${DOCKER} baseline agents are running`);
      const c0 = performance.now();
      await removeDirectly(docker, direct);
      const containersBaselineMs = performance.now() - c0;
      const fullBaselineMs = deleteBaselineMs + containersBaselineMs;

      ctx.progress('B6: delete the org (10,000, 50 Docker)');
      const d1 = performance.now();
      const del = await ctx.api<{ status: string; cascade_deleted?: number; workflow_id?: string; run_id?: string }>('DELETE', `/workspaces/${roots[0].id}?confirm=true`);
      let cascade = del.body.cascade_deleted;
      if (del.status === 202) {
        const result = (await temporal.workflow.getHandle(del.body.workflow_id as string, del.body.run_id).result()) as { removedCount?: number };
        cascade = result.removedCount;
      } else if (del.status !== 200) throw new Error(`B6 delete answered ${del.status}: ${JSON.stringify(del.body).slice(0, 300)}`);
      const deleteMs = performance.now() - d1;
      if (cascade !== TOTAL) throw new Error(`B6 delete removed ${cascade}, not ${TOTAL}`);
      ctx.record({ id: 'B6', what: 'delete the org (10,000, 50 Docker) vs SQL + 50 containers removed directly', value: Math.round(deleteMs), unit: 'ms', baseline: Math.round(fullBaselineMs), ratio: deleteMs / fullBaselineMs, target: '≤ 3x', ok: deleteMs / fullBaselineMs <= 3 });
      ctx.record({ id: 'B6', what: 'delete the org vs the SQL steps alone (no containers)', value: Math.round(deleteMs), unit: 'ms', baseline: Math.round(deleteBaselineMs), ratio: deleteMs / deleteBaselineMs });

      for (const [name, spentMs] of await breakdown(temporal, workflowIds.deleteTree(roots[0].id))) {
        ctx.record({ id: 'B6', what: `delete, where the time went: ${name}`, value: spentMs, unit: 'ms' });
      }
      for (const [name, ms] of await childActivityTimes(temporal, workflowIds.deleteTree(roots[0].id))) {
        ctx.record({ id: 'B6', what: `delete's compute children: ${name}`, value: ms, unit: 'ms' });
      }
      ctx.progress('B6: reading the delete histories');
      const deleteFigures: HistoryFigures = { runs: 0, maxEvents: 0, maxEventsOf: '', maxPayload: 0, maxPayloadOf: '' };
      await collectHistories(temporal, workflowIds.deleteTree(roots[0].id), deleteFigures);
      recordHistories(ctx, 'delete histories', deleteFigures);

      ctx.progress('B6: waiting for the 50 containers to be gone');
      const mine = new Set(dockerRows.map((r) => r.id));
      const leftovers = async () =>
        (await docker.listContainers({ all: true, filters: { label: [`${TEST_RUN_LABEL}=${ctx.servers.runId}`] } })).filter((c) => mine.has(c.Labels[WORKSPACE_ID_LABEL] ?? '')).length;
      const leaked = await waitFor('B6 containers gone', async () => (await leftovers()) === 0 || null, 60_000, 1_000).then(() => 0, () => leftovers());
      ctx.record({ id: 'B6', what: `containers left after the delete (of ${dockerRows.length})`, value: leaked, unit: 'containers', target: '0', ok: leaked === 0 });
      recordRss(ctx, 'the delete');
    } finally {
      await connection.close();
    }
  },
};
