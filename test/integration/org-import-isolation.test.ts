// Org import isolation (issue #13): what happens to one item during an import (a restart supersedes its
// provision, a delete removes it) changes that item's outcome only, and the import completes for the
// rest; a merge re-import leaves an item that is still provisioning alone (`skipped`); the cancel
// endpoint is the one way to stop an import; an import whose workflow cannot be started is marked
// failed (503 with its id) and can be retried.
import { Client, Connection } from '@temporalio/client';
import { buildApp } from '../../api/app';
import { freePort } from '../harness/processes';
import { containerExists, readTokenFile, removeWorkspaceContainer } from './support/compute';
import { replayAndMaybeRecord } from './support/histories';
import { ADMIN_TOKEN, startPlatform, waitFor, type Platform } from './support/platform';

jest.setTimeout(240_000);

let p: Platform;
beforeAll(async () => {
  p = await startPlatform();
});
afterAll(async () => {
  await p?.close();
});

interface ImportView {
  status: string;
  created_count: number;
  skipped_count: number;
  failed_count: number;
  error: string | null;
  items: Array<{ key: string; workspace_id: string | null; outcome: string; error: string | null; workspace_status: string | null }>;
}

const SILENT = { runtime: 'codex', compute: 'docker', env: { AGENT_BEHAVIOUR: 'silent' }, runtime_config: { provision_timeout_seconds: 600 } };
const FAST = { runtime: 'codex', compute: 'docker' };

async function startImport(body: Record<string, unknown>): Promise<string> {
  const res = await p.api<{ import_id: string }>('POST', '/org/import', body);
  if (res.status !== 202) throw new Error(`import answered ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body.import_id;
}

async function importView(importId: string): Promise<ImportView> {
  return (await p.api<ImportView>('GET', `/org/imports/${importId}`)).body;
}

async function finished(importId: string): Promise<ImportView> {
  return waitFor('import finished', async () => {
    const v = await importView(importId);
    return v.status !== 'running' ? v : null;
  }, 180_000);
}

/** The item's workspace id once its level exists, then waits until its provision awaits the agent. */
async function awaitingAgent(importId: string, key: string): Promise<string> {
  const id = await waitFor(`${key} created`, async () => (await importView(importId)).items.find((i) => i.key === key)?.workspace_id ?? null);
  await waitFor(`${key} awaiting registration`, async () => {
    const ws = await p.api<{ operation: { phase: string } | null }>('GET', `/workspaces/${id}`);
    return ws.body.operation?.phase === 'awaiting_registration';
  }, 60_000);
  return id;
}

const byKey = (view: ImportView) => Object.fromEntries(view.items.map((i) => [i.key, i]));

async function cleanup(view: ImportView): Promise<void> {
  for (const item of view.items) if (item.workspace_id) await removeWorkspaceContainer(p, item.workspace_id);
}

describe('org import isolation', () => {
  it('a restart of one item mid-import supersedes only that item: the import completes, the others are online', async () => {
    const importId = await startImport({
      template: { name: 'Restart Org', workspaces: [{ name: 'R Root', runtime: 'external', children: [{ name: 'R Slow', ...SILENT }, { name: 'R Fast 1', ...FAST }, { name: 'R Fast 2', ...FAST }] }] },
    });
    const slow = await awaitingAgent(importId, 'R Root/R Slow');
    // The restart's own provision reads the newest secrets: this time the agent registers.
    expect((await p.api('PUT', `/workspaces/${slow}/secrets/AGENT_BEHAVIOUR`, { value: 'normal' })).status).toBe(200);
    expect((await p.api('POST', `/workspaces/${slow}/restart`, {})).status).toBe(202);

    const view = await finished(importId);
    expect(view).toMatchObject({ status: 'completed', failed_count: 0, error: null });
    const items = byKey(view);
    expect(items['R Root/R Slow'].outcome).toBe('superseded');
    expect(items['R Root/R Fast 1']).toMatchObject({ outcome: 'online', workspace_status: 'online' });
    expect(items['R Root/R Fast 2']).toMatchObject({ outcome: 'online', workspace_status: 'online' });
    // The restart's result shows on the import's item.
    await waitFor('restart brought the superseded item online', async () => byKey(await importView(importId))['R Root/R Slow'].workspace_status === 'online', 120_000);
    await replayAndMaybeRecord(p.temporal, `org-import-${importId}`, undefined, 'org-import-item-superseded');
    await cleanup(view);
  });

  it('a delete of one item mid-import removes only that item: the import completes, the others are online', async () => {
    const importId = await startImport({
      template: { name: 'Delete Org', workspaces: [{ name: 'D Root', runtime: 'external', children: [{ name: 'D Slow', ...SILENT }, { name: 'D Fast', ...FAST }] }] },
    });
    const slow = await awaitingAgent(importId, 'D Root/D Slow');
    expect((await p.api('DELETE', `/workspaces/${slow}?confirm=true`)).body).toEqual({ status: 'removed', cascade_deleted: 1 });

    const view = await finished(importId);
    expect(view).toMatchObject({ status: 'completed', failed_count: 0, error: null });
    const items = byKey(view);
    expect(items['D Root/D Slow']).toMatchObject({ outcome: 'removed', workspace_status: 'removed' });
    expect(items['D Root/D Fast']).toMatchObject({ outcome: 'online', workspace_status: 'online' });
    expect(await containerExists(p, slow)).toBe(false);
    await cleanup(view);
  });

  it('merge re-import skips an item that is still provisioning; cancel stops the first import and its provision', async () => {
    const template = { name: 'Busy Org', workspaces: [{ name: 'Busy', ...SILENT }] };
    const firstId = await startImport({ template });
    const busy = await awaitingAgent(firstId, 'Busy');

    const secondId = await startImport({ template, mode: 'merge' });
    const second = await finished(secondId);
    expect(second).toMatchObject({ status: 'completed', created_count: 0, skipped_count: 1, failed_count: 0 });
    expect(byKey(second).Busy).toMatchObject({ outcome: 'skipped', workspace_id: busy, workspace_status: 'provisioning' });

    // The cancel endpoint: unknown 404, finished 409, running 202 (repeatable), then 200 once cancelled.
    expect((await p.api('POST', '/org/imports/6d1f3c7a-0b2e-4f6a-9c8d-000000000013/cancel')).status).toBe(404);
    const notRunning = await p.api<{ code: string; status: string }>('POST', `/org/imports/${secondId}/cancel`);
    expect(notRunning).toMatchObject({ status: 409, body: { code: 'IMPORT_NOT_RUNNING', status: 'completed' } });
    const cancel = await p.api<{ status: string }>('POST', `/org/imports/${firstId}/cancel`);
    expect(cancel).toMatchObject({ status: 202, body: { status: 'cancelling' } });
    expect([200, 202]).toContain((await p.api('POST', `/org/imports/${firstId}/cancel`)).status);

    const first = await finished(firstId);
    expect(first).toMatchObject({ status: 'cancelled', error: 'import cancelled' });
    expect(byKey(first).Busy).toMatchObject({ outcome: 'cancelled', workspace_status: 'failed' });
    expect(await containerExists(p, busy)).toBe(false); // the cancelled provision compensated
    const events = await p.clients.pool.query('SELECT event_type, payload FROM structure_events WHERE org_import_id = $1 ORDER BY id', [firstId]);
    expect(events.rows.map((r) => r.event_type)).toEqual(['org.import.started', 'org.import.completed']);
    expect(events.rows[1].payload).toMatchObject({ status: 'cancelled', error: 'import cancelled' });
    expect(await p.api('POST', `/org/imports/${firstId}/cancel`)).toMatchObject({ status: 200, body: { status: 'cancelled' } });
    await replayAndMaybeRecord(p.temporal, `org-import-${firstId}`, undefined, 'org-import-cancelled');
  });

  it('a re-provision of a queued item supersedes it; a cancel marks never-started items failed, not provisioning forever', async () => {
    // Eleven items, eight provision lanes: three wait for a lane (the last three by key).
    const name = (i: number) => `C Slow ${String(i).padStart(2, '0')}`;
    const children = Array.from({ length: 11 }, (_, i) => ({ name: name(i), ...SILENT }));
    const importId = await startImport({ template: { name: 'Cancel Org', workspaces: [{ name: 'C Root', runtime: 'external', children }] } });
    await awaitingAgent(importId, `C Root/${name(0)}`);
    await waitFor('eight provisions begun, three items waiting for a lane', async () => {
      const { rows } = await p.clients.pool.query(
        `SELECT count(*) FILTER (WHERE w.provision_started_at IS NULL)::int AS waiting, count(*)::int AS n
           FROM org_import_items i JOIN workspaces w ON w.id = i.workspace_id WHERE i.import_id = $1 AND w.compute = 'docker'`,
        [importId],
      );
      return rows[0].n === 11 && rows[0].waiting === 3;
    }, 60_000);
    const ids = Object.fromEntries((await importView(importId)).items.map((i) => [i.key, i.workspace_id as string]));
    const queued = ids[`C Root/${name(8)}`];
    // A user re-provisions a queued item (its agent registers this time); then a delete frees a lane.
    expect((await p.api('PUT', `/workspaces/${queued}/secrets/AGENT_BEHAVIOUR`, { value: 'normal' })).status).toBe(200);
    expect((await p.api('POST', `/workspaces/${queued}/provision`, {})).status).toBe(202);
    await waitFor('re-provisioned item online', async () => (await p.api<{ status: string }>('GET', `/workspaces/${queued}`)).body.status === 'online');
    expect((await p.api('DELETE', `/workspaces/${ids[`C Root/${name(0)}`]}?confirm=true`)).status).toBe(200);
    // The freed lane finds the queued item online (superseded, not provisioned again) and starts the next one.
    await waitFor('the freed lane moved on', async () => {
      const progress = (await p.api<{ progress: { superseded?: number; removed?: number } | null }>('GET', `/org/imports/${importId}`)).body.progress;
      const started = await p.clients.pool.query('SELECT provision_started_at FROM workspaces WHERE id = $1', [ids[`C Root/${name(9)}`]]);
      return progress?.superseded === 1 && progress.removed === 1 && started.rows[0].provision_started_at !== null;
    }, 60_000);

    expect((await p.api('POST', `/org/imports/${importId}/cancel`)).status).toBe(202);
    const view = await finished(importId);
    expect(view).toMatchObject({ status: 'cancelled', failed_count: 0 });
    const items = byKey(view);
    expect(items[`C Root/${name(0)}`]).toMatchObject({ outcome: 'removed', workspace_status: 'removed' });
    expect(items[`C Root/${name(8)}`]).toMatchObject({ outcome: 'superseded', workspace_status: 'online' });
    // In flight when cancelled (compensated), and never started (marked failed): all cancelled, none provisioning.
    for (const i of [1, 2, 3, 4, 5, 6, 7, 9, 10]) {
      expect(items[`C Root/${name(i)}`]).toMatchObject({ outcome: 'cancelled', workspace_status: 'failed' });
      expect(await containerExists(p, ids[`C Root/${name(i)}`])).toBe(false);
    }
    const provisionRuns = await p.clients.pool.query(
      `SELECT count(*)::int AS n FROM structure_events WHERE workspace_id = $1 AND event_type = 'WORKSPACE_ONLINE'`,
      [queued],
    );
    expect(provisionRuns.rows[0].n).toBe(1); // online once, through the user's re-provision only
    await removeWorkspaceContainer(p, queued);
  });

  it('a cancel during reconcile lets the started delete finish (no half cascade) and ends the import cancelled', async () => {
    // A stubborn agent ignores SIGTERM (its stop takes the engine's full grace period, so the delete is
    // slow) and never registers itself: the test registers with the token the platform wrote for it.
    const v1 = { name: 'Reconcile Cancel Org', workspaces: [{ name: 'RC Root', runtime: 'external', children: [{ name: 'RC Stubborn', ...FAST, env: { AGENT_BEHAVIOUR: 'stubborn' } }] }] };
    const firstId = await startImport({ template: v1 });
    const stubborn = await awaitingAgent(firstId, 'RC Root/RC Stubborn');
    const token = await readTokenFile(p, stubborn);
    expect((await p.api('POST', '/registry/register', { workspace_id: stubborn }, token)).status).toBe(200);
    expect((await finished(firstId)).status).toBe('completed');

    const importId = await startImport({ mode: 'reconcile', template: { name: 'Reconcile Cancel Org', workspaces: [{ name: 'RC Root', runtime: 'external' }] } });
    await waitFor('reconciling', async () => (await p.api<{ progress: { phase: string } | null }>('GET', `/org/imports/${importId}`)).body.progress?.phase === 'reconciling', 60_000, 100);
    expect((await p.api('POST', `/org/imports/${importId}/cancel`)).status).toBe(202);
    const view = await finished(importId);
    expect(view).toMatchObject({ status: 'cancelled', error: 'import cancelled' });
    expect((await p.clients.pool.query('SELECT status FROM workspaces WHERE id = $1', [stubborn])).rows[0].status).toBe('removed');
    expect(await containerExists(p, stubborn)).toBe(false); // the cascade ran to its end
  });

  it('an import whose workflow cannot be started is marked failed (503 with its id) and retried later', async () => {
    // The same API, with a Temporal client pointed at a closed port (no retries: fail at once).
    const closed = await freePort();
    const connection = await Connection.lazy({ address: `127.0.0.1:${closed}`, interceptors: [] });
    const broken = new Client({ connection });
    const app = await buildApp({ config: p.config, store: p.clients.store, box: p.clients.box, temporal: broken, compute: p.clients.compute, logger: false });
    try {
      const template = { name: 'Unstarted Org', workspaces: [{ name: 'U Lead', runtime: 'external' }] };
      const res = await app.inject({ method: 'POST', url: '/org/import', headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, payload: { template } });
      expect(res.statusCode).toBe(503);
      const body = res.json<{ code: string; import_id: string; error: string }>();
      expect(body).toMatchObject({ code: 'IMPORT_NOT_STARTED', import_id: expect.any(String) });
      const view = await importView(body.import_id);
      expect(view).toMatchObject({ status: 'failed', error: body.error, created_count: 0 });
      const events = await p.clients.pool.query('SELECT event_type FROM structure_events WHERE org_import_id = $1 ORDER BY id', [body.import_id]);
      expect(events.rows.map((r) => r.event_type)).toEqual(['org.import.started', 'org.import.completed']);

      const retry = await p.api<{ import_id: string; retry_of: string }>('POST', `/org/imports/${body.import_id}/retry`, {});
      expect(retry).toMatchObject({ status: 202, body: { retry_of: body.import_id } });
      const retried = await finished(retry.body.import_id);
      expect(retried).toMatchObject({ status: 'completed', created_count: 1, failed_count: 0 });
    } finally {
      await app.close();
      await connection.close();
    }
  });
});
