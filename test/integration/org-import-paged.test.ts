// Org import paging (issue #19): the provisioning phase reads its items a page at a time from Postgres
// and continues as new every `itemsPerRun` items, so every run's history and every payload stay bounded
// whatever the tree's size. The imports here are started through an API whose Temporal client adds a
// tiny page size and run size to the workflow input (production uses the defaults), so a small tree
// continues as new several times.
import { Client, type WorkflowClientInterceptor } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../api/app';
import { OrgImportIdKey } from '../../domain/search-attributes';
import { historyStats } from '../support/history-stats';
import { containerExists, removeWorkspaceContainer } from './support/compute';
import { replayAndMaybeRecord } from './support/histories';
import { ADMIN_TOKEN, startPlatform, waitFor, type Platform } from './support/platform';

jest.setTimeout(600_000);

interface ImportView {
  status: string;
  created_count: number;
  skipped_count: number;
  failed_count: number;
  error: string | null;
  progress: { phase: string; provisioned: number; toProvision: number; total: number } | null;
  items: Array<{ key: string; workspace_id: string | null; outcome: string; error: string | null; workspace_status: string | null }>;
}

const FAST = { runtime: 'codex', compute: 'docker' };
const SILENT = { runtime: 'codex', compute: 'docker', env: { AGENT_BEHAVIOUR: 'silent' }, runtime_config: { provision_timeout_seconds: 600 } };
/** Far above what a page of a few items needs, far below Temporal's 256 KB: a payload that grew with the tree would pass it. */
const PAYLOAD_BOUND = 16 * 1024;

let p: Platform;
let paging: { pageSize: number; itemsPerRun: number } = { pageSize: 2, itemsPerRun: 2 };
let app: FastifyInstance;
beforeAll(async () => {
  p = await startPlatform();
  const addPaging: WorkflowClientInterceptor = {
    start: (input, next) => {
      const [first, ...rest] = input.options.args as [Record<string, unknown>, ...unknown[]];
      return next({ ...input, options: { ...input.options, args: [{ ...first, ...paging }, ...rest] } });
    },
  };
  const client = new Client({ connection: p.temporal.connection, namespace: p.servers.temporalNamespace, interceptors: { workflow: [addPaging] } });
  app = await buildApp({ config: p.config, store: p.clients.store, box: p.clients.box, temporal: client, compute: p.clients.compute, logger: false });
});
afterAll(async () => {
  await app?.close();
  await p?.close();
});

async function startImport(template: Record<string, unknown>, sizes: { pageSize: number; itemsPerRun: number }): Promise<string> {
  paging = sizes;
  const res = await app.inject({ method: 'POST', url: '/org/import', headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, payload: { template } });
  if (res.statusCode !== 202) throw new Error(`import answered ${res.statusCode}: ${res.body}`);
  return res.json<{ import_id: string }>().import_id;
}

const importView = async (importId: string) => (await p.api<ImportView>('GET', `/org/imports/${importId}`)).body;
const byKey = (view: ImportView) => Object.fromEntries(view.items.map((i) => [i.key, i]));

async function finished(importId: string): Promise<ImportView> {
  return waitFor('import finished', async () => {
    const v = await importView(importId);
    return v.status !== 'running' ? v : null;
  }, 400_000);
}

type History = temporal.api.history.v1.IHistory;

/** Every run of the import's workflow, first to last: back from the latest along continued-as-new. */
async function runsOf(importId: string): Promise<Array<{ runId: string; history: History }>> {
  const workflowId = `org-import-${importId}`;
  // The row says completed one workflow task before the run's completion event is written: wait for the
  // chain to close (result() follows continue-as-new; a cancelled import closes by throwing) so the last
  // history is whole.
  await p.temporal.workflow.getHandle(workflowId).result().catch(() => undefined);
  const latest = await p.temporal.workflow.getHandle(workflowId).describe();
  const runs: Array<{ runId: string; history: History }> = [];
  let runId: string | undefined = latest.runId;
  while (runId) {
    const history = await p.temporal.workflow.getHandle(workflowId, runId).fetchHistory();
    runs.unshift({ runId, history });
    runId = history.events?.[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId || undefined;
  }
  return runs;
}

function lastEventKind(history: History): string {
  const last = (history.events ?? []).at(-1) ?? {};
  return Object.keys(last).find((k) => k.endsWith('EventAttributes')) ?? '';
}

async function cleanup(view: ImportView): Promise<void> {
  for (const item of view.items) if (item.workspace_id) await removeWorkspaceContainer(p, item.workspace_id);
}

describe('paged org import', () => {
  it('a small tree continues as new twice; every item gets its outcome (recorded histories)', async () => {
    const docker = Array.from({ length: 5 }, (_, i) => ({ name: `P Docker ${i}`, ...FAST }));
    const importId = await startImport(
      { name: 'Paged Org', workspaces: [{ name: 'P Root', runtime: 'external', children: [{ name: 'P Lead', runtime: 'external' }, ...docker] }] },
      { pageSize: 2, itemsPerRun: 2 },
    );
    const view = await finished(importId);
    expect(view).toMatchObject({ status: 'completed', created_count: 7, skipped_count: 0, failed_count: 0, error: null });
    const items = byKey(view);
    for (let i = 0; i < 5; i++) expect(items[`P Root/P Docker ${i}`]).toMatchObject({ outcome: 'online', workspace_status: 'online' });
    expect(items['P Root'].outcome).toBe('created'); // external: no provision
    expect(items['P Root/P Lead'].outcome).toBe('created');

    const runs = await runsOf(importId);
    expect(runs).toHaveLength(3); // 2 + 2 items, then 1 and the end
    expect(runs.slice(0, -1).map((r) => lastEventKind(r.history))).toEqual(['workflowExecutionContinuedAsNewEventAttributes', 'workflowExecutionContinuedAsNewEventAttributes']);
    expect(lastEventKind(runs[2].history)).toBe('workflowExecutionCompletedEventAttributes');
    // The server carries the search attribute over: the last run is still found by its import.
    const latest = await p.temporal.workflow.getHandle(`org-import-${importId}`).describe();
    expect(latest.typedSearchAttributes.get(OrgImportIdKey)).toBe(importId);
    for (const [i, run] of runs.entries()) await replayAndMaybeRecord(p.temporal, `org-import-${importId}`, run.runId, `org-import-paged.run${i + 1}`);

    // org.import.completed pairs with started once, across the runs, and counts the whole import.
    const events = await p.clients.pool.query('SELECT event_type, payload FROM structure_events WHERE org_import_id = $1 ORDER BY id', [importId]);
    expect(events.rows.map((r) => r.event_type)).toEqual(['org.import.started', 'org.import.completed']);
    expect(events.rows[1].payload).toMatchObject({ status: 'completed', created: 7, failed: 0 });
    await cleanup(view);
  });

  it('24 Docker items, pages of 4, 10 per run: bounded histories and payloads, counts right', async () => {
    const docker = Array.from({ length: 24 }, (_, i) => ({ name: `S Docker ${String(i).padStart(2, '0')}`, ...FAST }));
    const importId = await startImport({ name: 'Paged Scale Org', workspaces: [{ name: 'S Root', runtime: 'external', children: docker }] }, { pageSize: 4, itemsPerRun: 10 });
    const view = await finished(importId);
    expect(view).toMatchObject({ status: 'completed', created_count: 25, failed_count: 0, error: null });
    expect(view.items.filter((i) => i.outcome === 'online')).toHaveLength(24);

    const runs = await runsOf(importId);
    expect(runs).toHaveLength(3); // 10, 10, 4
    for (const run of runs) {
      const stats = historyStats(run.history);
      expect(stats.maxEventPayloadBytes).toBeLessThan(PAYLOAD_BOUND);
      // ~8 events an item: a run's history follows itemsPerRun, not the tree.
      expect(stats.events).toBeLessThan(10 * 12 + 60);
    }
    // The last run's result carries the whole import's progress.
    const result = await p.temporal.workflow.getHandle(`org-import-${importId}`).result();
    expect(result).toMatchObject({ phase: 'completed', total: 25, created: 25, provisioned: 24, toProvision: 24, failed: 0 });
    await cleanup(view);
  });

  it('a cancel in a later run ends `cancelled`: in-flight items compensate, the rest are marked in Postgres', async () => {
    // (depth, key) order: the ten A items (their agents register) fill the first run; the B items'
    // agents stay silent, so the second run's first page is in flight when the cancel comes.
    const fast = Array.from({ length: 10 }, (_, i) => ({ name: `A ${String(i).padStart(2, '0')}`, ...FAST }));
    const silent = Array.from({ length: 10 }, (_, i) => ({ name: `B ${String(i).padStart(2, '0')}`, ...SILENT }));
    const importId = await startImport({ name: 'Paged Cancel Org', workspaces: [{ name: 'C Root', runtime: 'external', children: [...fast, ...silent] }] }, { pageSize: 4, itemsPerRun: 10 });

    const ids = await waitFor('four B provisions begun in the second run', async () => {
      const { rows } = await p.clients.pool.query<{ name: string; id: string; started: boolean }>(
        `SELECT w.name, w.id, w.provision_started_at IS NOT NULL AS started FROM org_import_items i JOIN workspaces w ON w.id = i.workspace_id WHERE i.import_id = $1`,
        [importId],
      );
      return rows.filter((r) => r.name.startsWith('B ') && r.started).length === 4 ? Object.fromEntries(rows.map((r) => [r.name, r.id])) : null;
    }, 300_000);
    // The second run answers the progress query with what the first run did.
    const during = await waitFor('progress of the second run', async () => (await importView(importId)).progress, 30_000);
    expect(during).toMatchObject({ phase: 'provisioning', provisioned: 10, toProvision: 20, total: 21 });

    expect((await p.api('POST', `/org/imports/${importId}/cancel`)).status).toBe(202);
    const view = await finished(importId);
    expect(view).toMatchObject({ status: 'cancelled', error: 'import cancelled', failed_count: 0 });
    const items = byKey(view);
    for (let i = 0; i < 10; i++) expect(items[`C Root/A ${String(i).padStart(2, '0')}`]).toMatchObject({ outcome: 'online', workspace_status: 'online' });
    for (let i = 0; i < 10; i++) {
      const name = `B ${String(i).padStart(2, '0')}`;
      expect(items[`C Root/${name}`]).toMatchObject({ outcome: 'cancelled', workspace_status: 'failed' });
      expect(await containerExists(p, ids[name])).toBe(false);
    }
    const unstarted = await p.clients.pool.query(
      `SELECT count(*)::int AS n FROM structure_events e JOIN org_import_items i ON i.workspace_id = e.workspace_id
        WHERE i.import_id = $1 AND e.event_type = 'WORKSPACE_PROVISION_FAILED' AND e.dedupe_key LIKE $2`,
      [importId, `${importId}:cancelled:%`],
    );
    expect(unstarted.rows[0].n).toBe(6); // B 04..B 09 never began; B 00..B 03 compensated in their own runs

    const runs = await runsOf(importId);
    expect(runs).toHaveLength(2);
    expect(lastEventKind(runs[0].history)).toBe('workflowExecutionContinuedAsNewEventAttributes');
    expect(lastEventKind(runs[1].history)).toBe('workflowExecutionCanceledEventAttributes');
    for (const run of runs) expect(historyStats(run.history).maxEventPayloadBytes).toBeLessThan(PAYLOAD_BOUND);
    await replayAndMaybeRecord(p.temporal, `org-import-${importId}`, runs[1].runId, 'org-import-paged-cancelled');
    await cleanup(view);
  });
});
