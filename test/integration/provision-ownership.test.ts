// Provision-run ownership (issue 13, rules 3, 6-sweeper, 10, 11, 12): a stale or retried step of a run
// changes nothing once it took effect, an older run never touches a row a newer run owns, only the run
// whose token registered completes, one deadline everywhere, and the sweeper fails only provisions
// nobody will finish.
import { randomBytes, randomUUID } from 'node:crypto';
import { optionalTsToMs } from '@temporalio/common/lib/time';
import { MockActivityEnvironment } from '@temporalio/testing';
import type { ComputePorts } from '../../activities/compute-ports';
import { createSecretBox } from '../../activities/crypto';
import { createOrphanSweeper } from '../../activities/orphan-sweeper';
import { createProvisionActivities, type BegunProvision } from '../../activities/provision-activities';
import type { NewWorkspace } from '../../activities/workspace-store';
import { PUBLIC_MESSAGES } from '../../domain/public-errors';
import { agentRegisteredSignal } from '../../workflows/definitions';
import { createOnline, instancesOf, readTokenFile } from './support/compute';
import { startPlatform, waitFor, type Platform } from './support/platform';

const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };
const newRow = (name: string, extra: Partial<NewWorkspace> = {}): NewWorkspace => ({
  name, role: '', tier: 1, runtime: 'codex', compute: 'docker', parentId: null, deliveryMode: 'push', updateTier: 'production',
  model: null, budgetLimit: null, maxConcurrentTasks: 1, provisionTimeoutSeconds: null, ...extra,
});

interface TokenRow { id: string; token_hash: string; revoked_at: Date | null; provision_run_id: string | null }

let p: Platform;
let acts: ReturnType<typeof createProvisionActivities>;
const env = new MockActivityEnvironment();
const begin = (input: { workspaceId: string; runId: string; runStartedAtMs?: number }) => env.run(acts.beginProvision, input) as Promise<BegunProvision>;
beforeAll(async () => {
  p = await startPlatform();
  acts = createProvisionActivities({ store: p.clients.store, box: p.clients.box, config: p.config, compute: p.clients.compute });
});
afterAll(async () => {
  await p?.close();
});

async function tokens(id: string): Promise<TokenRow[]> {
  return (await p.clients.pool.query<TokenRow>('SELECT id, token_hash, revoked_at, provision_run_id FROM workspace_auth_tokens WHERE workspace_id = $1 ORDER BY id', [id])).rows;
}
async function row(id: string): Promise<{ status: string; provision_run_id: string | null; provision_deadline_at: Date | null; last_sample_error: string | null }> {
  return (await p.clients.pool.query('SELECT status, provision_run_id, provision_deadline_at, last_sample_error FROM workspaces WHERE id = $1', [id])).rows[0];
}
async function phaseOf(id: string): Promise<string | null> {
  return (await p.api<{ operation: { phase: string | null } | null }>('GET', `/workspaces/${id}`)).body.operation?.phase ?? null;
}

describe('rule 11: every step idempotent per run, local ones included', () => {
  it('a stale beginProvision of a finished run changes nothing: same token, still valid, status unchanged', async () => {
    const id = await createOnline(p, { name: 'Own Stale Begin', compute: 'docker' });
    const described = await p.temporal.workflow.getHandle(`provision-${id}`).describe();
    const before = await tokens(id);
    expect(before).toHaveLength(1);
    expect(before[0].provision_run_id).toBe(described.runId);
    const agentToken = await readTokenFile(p, id);

    // As a thawed worker would run it from the task it held: with this run's input, and with the
    // input of runs from before the patch (no start time).
    const again = await begin({ workspaceId: id, runId: described.runId, runStartedAtMs: described.startTime.getTime() });
    await begin({ workspaceId: id, runId: described.runId });

    expect(p.clients.box.open(again.sealedToken)).toBe(agentToken);
    expect(await tokens(id)).toEqual(before);
    expect((await row(id)).status).toBe('online');
    expect((await p.api('POST', '/registry/heartbeat', { workspace_id: id }, agentToken)).status).toBe(200);
    const events = await p.clients.pool.query(`SELECT count(*)::int AS n FROM structure_events WHERE workspace_id = $1 AND event_type = 'WORKSPACE_PROVISIONING'`, [id]);
    expect(events.rows[0].n).toBe(1);
    await p.api('DELETE', `/workspaces/${id}?confirm=true`);
  });

  it('an older run never touches a row a newer run owns (markOnline, markProvisionFailed, beginProvision)', async () => {
    const ws = await p.clients.store.createWorkspace(newRow('Own Older Run'));
    const t0 = Date.now();
    const older = await begin({ workspaceId: ws.id, runId: 'run-older', runStartedAtMs: t0 });
    const newer = await begin({ workspaceId: ws.id, runId: 'run-newer', runStartedAtMs: t0 + 1000 });
    expect(older.sealedToken).not.toBe(newer.sealedToken);
    const owned = await tokens(ws.id);
    expect(owned.map((t) => [t.provision_run_id, t.revoked_at === null])).toEqual([['run-older', false], ['run-newer', true]]);
    expect(await row(ws.id)).toMatchObject({ status: 'provisioning', provision_run_id: 'run-newer' });

    expect(await env.run(acts.markOnline, { workspaceId: ws.id, runId: 'run-older' })).toBe(false);
    await env.run(acts.markProvisionFailed, { workspaceId: ws.id, runId: 'run-older', publicMessage: PUBLIC_MESSAGES.cancelled });
    expect(await row(ws.id)).toMatchObject({ status: 'provisioning', provision_run_id: 'run-newer', last_sample_error: null });
    // The older run's first step, arriving late (it never ran before): refused, nothing minted or revoked.
    await expect(env.run(acts.beginProvision, { workspaceId: ws.id, runId: 'run-oldest', runStartedAtMs: t0 - 1000 })).rejects.toMatchObject({ type: 'ProvisionSuperseded' });
    // ... and its re-execution (it did run): a no-op.
    await env.run(acts.beginProvision, { workspaceId: ws.id, runId: 'run-older', runStartedAtMs: t0 });
    expect(await tokens(ws.id)).toEqual(owned);
    const failed = await p.clients.pool.query(`SELECT count(*)::int AS n FROM structure_events WHERE workspace_id = $1 AND event_type = 'WORKSPACE_PROVISION_FAILED'`, [ws.id]);
    expect(failed.rows[0].n).toBe(0);

    expect(await env.run(acts.markOnline, { workspaceId: ws.id, runId: 'run-newer' })).toBe(true);
    expect((await row(ws.id)).status).toBe('online');
    // A stale markProvisionFailed of the older run does not move the newer run's online row back.
    await env.run(acts.markProvisionFailed, { workspaceId: ws.id, runId: 'run-older', publicMessage: PUBLIC_MESSAGES.cancelled });
    expect((await row(ws.id)).status).toBe('online');
  });
});

describe('rule 11 with a changed SECRETS_KEY', () => {
  it('a re-execution whose token no longer matches (key rotated) is still a no-op for the run that owns the row', async () => {
    const ws = await p.clients.store.createWorkspace(newRow('Own Rotated Key'));
    await begin({ workspaceId: ws.id, runId: 'run-k', runStartedAtMs: Date.now() });
    const before = await tokens(ws.id);
    const rotated = createProvisionActivities({ store: p.clients.store, box: createSecretBox(randomBytes(32)), config: p.config, compute: p.clients.compute });
    await env.run(rotated.beginProvision, { workspaceId: ws.id, runId: 'run-k', runStartedAtMs: Date.now() });
    expect(await tokens(ws.id)).toEqual(before);
    expect(await row(ws.id)).toMatchObject({ status: 'provisioning', provision_run_id: 'run-k', last_sample_error: null });
  });
});

describe('rule 10: the registration is tied to the credentials of the run that waits for it', () => {
  it('a token authenticated just before a newer run revoked it cannot register', async () => {
    const ws = await p.clients.store.createWorkspace(newRow('Own Register Race'));
    const first = await begin({ workspaceId: ws.id, runId: 'run-a', runStartedAtMs: Date.now() });
    const oldToken = p.clients.box.open(first.sealedToken);
    expect(await p.clients.store.authenticateAgent(oldToken)).toMatchObject({ workspaceId: ws.id, runId: 'run-a' });
    await env.run(acts.beginProvision, { workspaceId: ws.id, runId: 'run-b', runStartedAtMs: Date.now() + 1000 });
    // The register write comes after the revocation: refused, the row is not marked online.
    expect(await p.clients.store.markRegistered(ws.id, oldToken, null)).toEqual({ outcome: 'unauthorized' });
    expect((await row(ws.id)).status).toBe('provisioning');
    expect((await p.api('POST', '/registry/register', { workspace_id: ws.id }, oldToken)).status).toBe(401);
  });

  it("a registration signal carrying another run's id does not complete the provision", async () => {
    const res = await p.api<{ workspace: { id: string } }>('POST', '/workspaces', { name: 'Own Foreign Signal', compute: 'ec2', provision_timeout_seconds: 8 });
    expect(res.status).toBe(202);
    const id = res.body.workspace.id;
    await waitFor('awaiting registration', async () => (await phaseOf(id)) === 'awaiting_registration');
    const handle = p.temporal.workflow.getHandle(`provision-${id}`);
    // What an agent holding an older run's token leaves behind: its register write and its signal.
    await p.clients.pool.query(`UPDATE workspaces SET status = 'online', registered_run_id = 'an-older-run' WHERE id = $1`, [id]);
    await handle.signal(agentRegisteredSignal, { runId: 'an-older-run' });
    await handle.signal(agentRegisteredSignal);
    await expect(handle.result()).rejects.toMatchObject({ cause: expect.objectContaining({ type: 'ProvisionTimeout' }) });
    expect((await row(id)).status).toBe('failed');
    expect((await instancesOf(p, id)).filter((i) => !['shutting-down', 'terminated'].includes(i.State?.Name ?? ''))).toEqual([]);
  });
});

describe('rule 12: one deadline', () => {
  let slow: Platform;
  beforeAll(async () => {
    // A launch that takes 3 s: a timer started after startCompute would fire 3 s after the stored deadline.
    const delayLaunch = (ports: ComputePorts): ComputePorts => ({
      ...ports,
      ec2: ports.ec2 && {
        ...ports.ec2,
        launchInstance: async (req) => {
          await new Promise((r) => setTimeout(r, 3000));
          return ports.ec2!.launchInstance(req);
        },
      },
    });
    slow = await startPlatform({ wrapCompute: delayLaunch });
  });
  afterAll(async () => {
    await slow?.close();
  });

  it("GET's provision_deadline is the stored deadline, and the workflow times out at it", async () => {
    const res = await slow.api<{ workspace: { id: string } }>('POST', '/workspaces', { name: 'Own Deadline', compute: 'ec2', provision_timeout_seconds: 6 });
    const id = res.body.workspace.id;
    const stored = await waitFor('deadline stored', async () => (await row(id)).provision_deadline_at);
    const view = await slow.api<{ provision_deadline: string | null; provision_timeout_seconds: number }>('GET', `/workspaces/${id}`);
    expect(view.body.provision_deadline).toBe(stored.toISOString());
    expect(view.body.provision_timeout_seconds).toBe(6);

    const handle = slow.temporal.workflow.getHandle(`provision-${id}`);
    await expect(handle.result()).rejects.toMatchObject({ cause: expect.objectContaining({ type: 'ProvisionTimeout' }) });
    const history = await handle.fetchHistory();
    const timers = (history.events ?? []).filter((e) => e.timerStartedEventAttributes);
    expect(timers).toHaveLength(1);
    const started = optionalTsToMs(timers[0].eventTime) ?? 0;
    const duration = timers[0].timerStartedEventAttributes?.startToFireTimeout;
    const firesAt = started + Number(duration?.seconds ?? 0) * 1000 + Math.round((duration?.nanos ?? 0) / 1e6);
    // The registration timer ends at the stored deadline (clock skew between the workflow task's
    // time and Postgres' now() only), not a launch's duration later.
    expect(Math.abs(firesAt - stored.getTime())).toBeLessThan(1000);
    expect((await row(id)).status).toBe('failed');
  });
});

describe('rule 6 (sweeper part): provisioning rows that no provision will finish', () => {
  it('fails a row with no workflow and no start time after the grace; never a running import\'s or a running provision\'s', async () => {
    const sweeper = createOrphanSweeper({ store: p.clients.store, compute: {}, config: p.config, log: silent, temporal: p.temporal });
    const backdate = (id: string) => p.clients.pool.query(`UPDATE workspaces SET updated_at = now() - interval '10 minutes' WHERE id = $1`, [id]);

    const ghost = await p.clients.store.createWorkspace(newRow('Own Ghost'));
    await backdate(ghost.id);
    const fresh = await p.clients.store.createWorkspace(newRow('Own Fresh Ghost'));

    const importId = randomUUID();
    await p.clients.pool.query(`INSERT INTO org_imports (id, mode, status, template, workflow_id, org_key) VALUES ($1, 'merge', 'running', '{}'::jsonb, $2, 'own-import')`, [importId, `org-import-${importId}`]);
    const queued = await p.clients.store.createWorkspace(newRow('Own Import Queued', { orgImportId: importId }));
    await backdate(queued.id);

    const res = await p.api<{ workspace: { id: string } }>('POST', '/workspaces', { name: 'Own Running', compute: 'ec2', provision_timeout_seconds: 600 });
    const running = res.body.workspace.id;
    await waitFor('awaiting registration', async () => (await phaseOf(running)) === 'awaiting_registration');
    // Even past its deadline and idle: its workflow runs, so it is that workflow's to fail.
    await p.clients.pool.query(
      `UPDATE workspaces SET updated_at = now() - interval '1 hour', provision_deadline_at = now() - interval '30 minutes' WHERE id = $1`,
      [running],
    );

    const dry = await p.api<{ findings: Array<{ kind: string; id: string; action: string }> }>('GET', '/admin/orphans');
    const stuckIds = (findings: Array<{ kind: string; id: string }>) => findings.filter((f) => f.kind === 'stuck_provision').map((f) => f.id);
    expect(stuckIds(dry.body.findings)).toContain(ghost.id);
    expect(dry.body.findings).toEqual(expect.arrayContaining([expect.objectContaining({ id: ghost.id, action: 'would_fail' })]));
    expect((await row(ghost.id)).status).toBe('provisioning');

    const report = await sweeper.sweep({ dryRun: false });
    const acted = stuckIds(report.findings);
    expect(acted).toContain(ghost.id);
    for (const untouched of [fresh.id, queued.id, running]) expect(acted).not.toContain(untouched);
    expect(await row(ghost.id)).toMatchObject({ status: 'failed', last_sample_error: PUBLIC_MESSAGES.abandoned });
    for (const untouched of [fresh.id, queued.id, running]) expect((await row(untouched)).status).toBe('provisioning');
    const events = await p.clients.pool.query(`SELECT count(*)::int AS n FROM structure_events WHERE workspace_id = $1 AND event_type = 'WORKSPACE_PROVISION_FAILED'`, [ghost.id]);
    expect(events.rows[0].n).toBe(1);

    // Once the import is over, its leftover row is failed like any other.
    await p.clients.pool.query(`UPDATE org_imports SET status = 'completed' WHERE id = $1`, [importId]);
    expect(stuckIds((await sweeper.sweep({ dryRun: false })).findings)).toContain(queued.id);
    expect((await row(queued.id)).status).toBe('failed');

    await p.temporal.workflow.getHandle(`provision-${running}`).cancel();
    await expect(p.temporal.workflow.getHandle(`provision-${running}`).result()).rejects.toBeTruthy();
  });
});
