// Fault suite, F9 (issue #13): restarts and deletes of random items (seeded) while a 200-workspace
// import provisions Docker workspaces. The import must complete; every untouched item is online
// exactly once (one provision run, one WORKSPACE_ONLINE event); each touched item has the outcome of
// what was done to it; nothing leaks once the tree is deleted. Prints the suite's summary line.
import { WORKSPACE_ID_LABEL } from '../../domain/vocabulary';
import { TEST_RUN_LABEL } from '../harness/servers';
import { seededRandom } from '../support/seeded-random';
import { startPlatform, waitFor, type Platform } from './support/platform';

jest.setTimeout(900_000);

const SEED = 0xf9_2026;
const RESTARTS = 12;
const DELETES = 12;

const summary = { cases: 0, faultsSurvived: 0, leaks: 0 };
afterAll(() => {
  console.log(`fault suite: ${summary.cases} cases run, ${summary.faultsSurvived} faults survived, ${summary.leaks} leaks found`);
});

interface Item {
  key: string;
  workspace_id: string | null;
  outcome: string;
  workspace_status: string | null;
}

describe('F9: restarts and deletes of random items during a 200-workspace import', () => {
  let p: Platform;
  beforeAll(async () => {
    // 195 agents heartbeating every 2 s would be the load here, not the import: every 30 s is enough.
    p = await startPlatform({ env: { HEARTBEAT_INTERVAL_SECONDS: '30' } });
  });
  afterAll(async () => {
    await p?.close();
  });

  it('the import completes; untouched items are online exactly once; touched items have their outcome', async () => {
    const rng = seededRandom(SEED);
    // 1 root + 4 team leads (external) + 195 Docker members (49, 49, 49, 48) = 200 workspaces.
    const teams = [49, 49, 49, 48].map((size, t) => ({
      name: `F9 Team ${t}`,
      runtime: 'external',
      children: Array.from({ length: size }, (_, m) => ({ name: `F9 Member ${t}-${m}`, runtime: 'codex', compute: 'docker' })),
    }));
    const template = { name: 'F9 Org', workspaces: [{ name: 'F9 Root', runtime: 'external', children: teams }] };
    const started = await p.api<{ import_id: string }>('POST', '/org/import', { template });
    expect(started.status).toBe(202);
    const importId = started.body.import_id;
    const items = async () => (await p.api<{ status: string; failed_count: number; items: Item[] }>('GET', `/org/imports/${importId}`)).body;

    const created = await waitFor('every level created', async () => {
      const view = await items();
      return view.items.length === 200 && view.items.every((i) => i.workspace_id) ? view.items : null;
    }, 120_000);
    const members = created.filter((i) => i.key.includes('/F9 Member ')).map((i) => ({ key: i.key, id: i.workspace_id as string }));
    expect(members).toHaveLength(195);

    // Seeded choice of the touched members and of when (how many members online) each is touched.
    const pool = [...members];
    const draw = () => pool.splice(Math.floor(rng() * pool.length), 1)[0];
    const actions = [
      ...Array.from({ length: RESTARTS }, () => ({ kind: 'restart' as const, item: draw(), at: Math.floor(rng() * 150) })),
      ...Array.from({ length: DELETES }, () => ({ kind: 'delete' as const, item: draw(), at: Math.floor(rng() * 150) })),
    ].sort((a, b) => a.at - b.at);
    const touched = new Map(actions.map((a) => [a.item.id, a.kind]));

    const onlineMembers = async (): Promise<number> =>
      (await p.clients.pool.query(`SELECT count(*)::int AS n FROM workspaces WHERE org_import_id = $1 AND compute = 'docker' AND status = 'online'`, [importId])).rows[0].n;
    const inFlight: Array<Promise<unknown>> = [];
    for (const action of actions) {
      await waitFor(`${action.at} members online`, async () => (await onlineMembers()) >= action.at, 300_000, 100);
      if (action.kind === 'restart') {
        const res = await p.api('POST', `/workspaces/${action.item.id}/restart`, {});
        expect(res.status).toBe(202);
      } else {
        // Not awaited: the next action does not wait for this delete's cascade.
        inFlight.push(p.api('DELETE', `/workspaces/${action.item.id}?confirm=true`).then((res) => expect([200, 202]).toContain(res.status)));
      }
    }
    await Promise.all(inFlight);

    const view = await waitFor('import finished', async () => {
      const v = await items();
      return v.status !== 'running' ? v : null;
    }, 600_000);
    expect(view).toMatchObject({ status: 'completed', failed_count: 0 });
    const outcome = new Map(view.items.map((i) => [i.workspace_id, i.outcome]));

    // Every restart ends with its workspace online again (the restart's own provision).
    for (const [id, kind] of touched) {
      if (kind === 'restart') await p.temporal.workflow.getHandle(`restart-${id}`).result();
    }
    const rows = await p.clients.pool.query<{ id: string; status: string; online_events: number }>(
      `SELECT w.id, w.status, (SELECT count(*) FROM structure_events e WHERE e.workspace_id = w.id AND e.event_type = 'WORKSPACE_ONLINE')::int AS online_events
         FROM workspaces w WHERE w.org_import_id = $1 AND w.compute = 'docker'`,
      [importId],
    );
    const untouched = rows.rows.filter((r) => !touched.has(r.id));
    expect(untouched).toHaveLength(195 - RESTARTS - DELETES);
    for (const r of untouched) expect({ id: r.id, outcome: outcome.get(r.id), status: r.status, online_events: r.online_events }).toEqual({ id: r.id, outcome: 'online', status: 'online', online_events: 1 });
    for (const r of rows.rows.filter((r) => touched.get(r.id) === 'restart')) {
      expect({ id: r.id, status: r.status, superseded_or_online: ['superseded', 'online'].includes(outcome.get(r.id) ?? '') }).toEqual({ id: r.id, status: 'online', superseded_or_online: true });
    }
    for (const r of rows.rows.filter((r) => touched.get(r.id) === 'delete')) {
      expect({ id: r.id, status: r.status, removed_or_online: ['removed', 'online'].includes(outcome.get(r.id) ?? '') }).toEqual({ id: r.id, status: 'removed', removed_or_online: true });
    }

    const touchedOutcomes: Record<string, number> = {};
    for (const [id, kind] of touched) touchedOutcomes[`${kind}:${outcome.get(id)}`] = (touchedOutcomes[`${kind}:${outcome.get(id)}`] ?? 0) + 1;
    console.log(`F9: seed ${SEED.toString(16)}, touched items by action and outcome ${JSON.stringify(touchedOutcomes)}`);

    // One provision run per untouched member (visibility is eventually consistent: wait for all of them).
    const untouchedIds = new Set(untouched.map((r) => r.id));
    const runs = await waitFor('provision runs visible', async () => {
      const count = new Map<string, number>();
      for await (const wf of p.temporal.workflow.list({ query: `WorkflowType = 'provisionWorkspace' AND ExecutionStatus != 'Running'` })) {
        const id = wf.workflowId.replace(/^provision-/, '');
        if (untouchedIds.has(id)) count.set(id, (count.get(id) ?? 0) + 1);
      }
      return count.size === untouchedIds.size ? count : null;
    }, 60_000);
    expect([...runs.values()].filter((n) => n !== 1)).toEqual([]);

    // Clean up: the whole tree, then no container of it may be left.
    const del = await p.api<{ status: string; workflow_id?: string }>('DELETE', `/workspaces/${view.items.find((i) => i.key === 'F9 Root')?.workspace_id}?confirm=true`);
    if (del.status === 202) await p.temporal.workflow.getHandle(del.body.workflow_id as string).result();
    else expect(del.status).toBe(200);
    const ids = new Set(rows.rows.map((r) => r.id));
    const left = (await p.docker.listContainers({ all: true, filters: { label: [`${TEST_RUN_LABEL}=${p.servers.runId}`] } })).filter((c) => ids.has(c.Labels[WORKSPACE_ID_LABEL]));
    summary.leaks += left.length;
    expect(left).toHaveLength(0);
    summary.cases++;
    summary.faultsSurvived += RESTARTS + DELETES;
  });
});
