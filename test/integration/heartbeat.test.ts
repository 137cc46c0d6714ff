// Issue #16, heartbeats and status (SPEC-ADDENDUM A1, A2): the full heartbeat body with its clamps,
// `degraded` in and out, monthly_spend, external agents waiting as awaiting_agent (never offline),
// recovery on a heartbeat, and the event of every status change, written with the change. Real API,
// worker, Postgres and Podman; the agent's token is the one the platform wrote into its container.
import { containerName, EVENTS } from '../../domain/vocabulary';
import { createOnline, readTokenFile, removeWorkspaceContainer } from './support/compute';
import { replayAndMaybeRecord } from './support/histories';
import { startPlatform, waitFor, type Platform } from './support/platform';

jest.setTimeout(120_000);

/** Seconds an external agent may be silent in this file (REMOTE_LIVENESS_STALE_AFTER). */
const REMOTE_STALE_AFTER = 2;

let p: Platform;

beforeAll(async () => {
  p = await startPlatform({ env: { REMOTE_LIVENESS_STALE_AFTER: String(REMOTE_STALE_AFTER) } });
});
afterAll(async () => {
  await p?.close();
});

interface HeartbeatView {
  active_tasks: number;
  current_task: string;
  error_rate: number | null;
  uptime_seconds: number | null;
  runtime_state: string;
  capabilities: Record<string, boolean>;
  idle_timeout_seconds: number | null;
}
interface View {
  status: string;
  monthly_spend: number;
  last_sample_error: string | null;
  last_heartbeat_at: string | null;
  heartbeat: HeartbeatView;
}

/** The workspace view, with monthly_spend from its budget (A12.2 keeps budget fields off GET /workspaces/:id). */
const read = async (id: string): Promise<View> => {
  const view = (await p.api<View>('GET', `/workspaces/${id}`)).body;
  const budget = (await p.api<{ monthly_spend: number }>('GET', `/workspaces/${id}/budget`)).body;
  return { ...view, monthly_spend: budget.monthly_spend };
};
const beat = (id: string, token: string, body: Record<string, unknown> = {}) =>
  p.api<{ status: string; platform_inbound_secret: string | null }>('POST', '/registry/heartbeat', { workspace_id: id, ...body }, token);

/**
 * The workspace's events since its agent's first registration (what these tests drive); the create's own
 * announcement (WORKSPACE_AWAITING_AGENT of an external create, A5.2) comes before and is not theirs.
 */
async function eventsOf(id: string, types?: string[]): Promise<Array<{ event_type: string; payload: Record<string, unknown> }>> {
  const { rows } = await p.clients.pool.query<{ event_type: string; payload: Record<string, unknown> }>(
    `SELECT event_type, payload FROM structure_events
      WHERE workspace_id = $1 AND ($2::text[] IS NULL OR event_type = ANY($2)) AND id > $3 ORDER BY id`,
    [id, types ?? null, createdEventIds.get(id) ?? 0],
  );
  return rows;
}

/** Last event id of each workspace right after its creation. */
const createdEventIds = new Map<string, number>();
async function markCreated(id: string): Promise<void> {
  const { rows } = await p.clients.pool.query<{ max: string | null }>('SELECT max(id)::text AS max FROM structure_events WHERE workspace_id = $1', [id]);
  createdEventIds.set(id, Number(rows[0].max ?? 0));
}

const STATUS_EVENTS = [EVENTS.workspaceOnline, EVENTS.workspaceOffline, EVENTS.workspaceDegraded, EVENTS.workspaceAwaitingAgent];

/** An external workspace registered by its agent: online. */
async function registeredExternal(name: string): Promise<{ id: string; token: string }> {
  const created = await p.api<{ workspace: { id: string }; auth_token: string }>('POST', '/workspaces', { name, runtime: 'external' });
  expect(created.status).toBe(201);
  const id = created.body.workspace.id;
  const token = created.body.auth_token;
  await p.temporal.workflow.getHandle(`provision-${id}`).result();
  await markCreated(id);
  expect((await p.api('POST', '/registry/register', { workspace_id: id }, token)).status).toBe(200);
  return { id, token };
}

/**
 * What the stand-in's runtime measures from now on: JSON members it puts in its next heartbeats in
 * place of its healthy report (scripts/agent-image/agent.sh, REPORT_FILE).
 */
async function agentReports(id: string, members: string): Promise<void> {
  const exec = await p.docker.getContainer(containerName(id)).exec({
    Cmd: ['sh', '-c', 'printf "%s" "$REPORT" > /tmp/agent-report.new && busybox mv /tmp/agent-report.new /tmp/agent-report'],
    Env: [`REPORT=${members}`],
  });
  // Detached: Podman's exec inspect can report a finished detached exec as running, so callers wait
  // for what the platform sees instead (the rename makes the agent read the old or the new report).
  await exec.start({ Detach: true });
}

/** One liveness pass, through the workflow the 15 s schedule starts; returns its workflow id. */
async function livenessPass(): Promise<string> {
  const workflowId = `liveness-test-${Date.now()}-${Math.random().toString(36).slice(2)}`;
  await p.temporal.workflow.execute('livenessSweep', { taskQueue: p.taskQueue, workflowId });
  return workflowId;
}

describe('heartbeat body (A2.1, A2.2)', () => {
  it('stores and exposes every reported field, clamped; absent fields keep what was stored', async () => {
    const { id, token } = await registeredExternal('Hb Full Body');
    const res = await beat(id, token, {
      error_rate: 0.02,
      sample_error: 'x'.repeat(1500),
      active_tasks: 3,
      uptime_seconds: 4321.9,
      current_task: 'triage issue 16',
      monthly_spend: 1234,
      runtime_state: '',
      runtime_metadata: { capabilities: { scheduler: true, native_session: false }, idle_timeout_seconds: 600 },
    });
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('online');
    expect(res.body.platform_inbound_secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    let view = await read(id);
    expect(view.heartbeat).toEqual({
      active_tasks: 3,
      current_task: 'triage issue 16',
      error_rate: 0.02,
      uptime_seconds: 4321,
      runtime_state: '',
      capabilities: { scheduler: true, native_session: false },
      idle_timeout_seconds: 600,
    });
    expect(view.monthly_spend).toBe(1234);
    expect(view.last_sample_error).toBe('x'.repeat(1000));

    // Clamps: out-of-range numbers are brought into range, never refused (a refused beat is a lost beat).
    expect((await beat(id, token, { active_tasks: -4, uptime_seconds: 1e15, error_rate: -1, monthly_spend: 5e15 })).status).toBe(200);
    view = await read(id);
    expect(view.heartbeat).toMatchObject({ active_tasks: 0, uptime_seconds: 315_360_000, error_rate: 0 });
    expect(view.monthly_spend).toBe(1_000_000_000_000);

    // monthly_spend is written only when the clamped value is > 0: 0 and negatives keep the stored spend.
    await beat(id, token, { monthly_spend: 0 });
    await beat(id, token, { monthly_spend: -50 });
    expect((await read(id)).monthly_spend).toBe(1_000_000_000_000);
    await beat(id, token, { monthly_spend: 777 });
    expect((await read(id)).monthly_spend).toBe(777);

    // A bare heartbeat (old agents) and nulls keep the last report, metadata included.
    await beat(id, token, { current_task: null, runtime_metadata: null });
    view = await read(id);
    expect(view.heartbeat.current_task).toBe('triage issue 16');
    expect(view.heartbeat.capabilities).toEqual({ scheduler: true, native_session: false });
    expect(view.status).toBe('online');
  });

  it('a workspace without an inbound secret gets one minted on the spot (A2.6), kept from then on', async () => {
    const { id, token } = await registeredExternal('Hb Lazy Secret');
    await p.clients.pool.query('UPDATE workspaces SET platform_inbound_secret = NULL WHERE id = $1', [id]);
    const first = await beat(id, token);
    expect(first.status).toBe(200);
    expect(first.body.platform_inbound_secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect((await beat(id, token)).body.platform_inbound_secret).toBe(first.body.platform_inbound_secret);
    const { rows } = await p.clients.pool.query<{ sealed: string }>('SELECT platform_inbound_secret AS sealed FROM workspaces WHERE id = $1', [id]);
    expect(rows[0].sealed).not.toContain(first.body.platform_inbound_secret as string);
  });

  it('TASK_UPDATED only when current_task changes', async () => {
    const { id, token } = await registeredExternal('Hb Task Updates');
    await beat(id, token, { current_task: 'a', active_tasks: 1 });
    await beat(id, token, { current_task: 'a', active_tasks: 1 });
    await beat(id, token, { active_tasks: 1 });
    await beat(id, token, { current_task: '', active_tasks: 0 });
    expect((await eventsOf(id, [EVENTS.taskUpdated])).map((e) => e.payload)).toEqual([
      { current_task: 'a', active_tasks: 1 },
      { current_task: '', active_tasks: 0 },
    ]);
  });

  it('bad input: 400 naming the field, never the value; nothing stored', async () => {
    const { id, token } = await registeredExternal('Hb Bad Input');
    const marker = 'ZZHBMARKZZ';
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ error_rate: marker }, 'body.error_rate'],
      [{ active_tasks: `${marker}3` }, 'body.active_tasks'],
      [{ uptime_seconds: true }, 'body.uptime_seconds'],
      [{ monthly_spend: [marker] }, 'body.monthly_spend'],
      [{ current_task: { marker } }, 'body.current_task'],
      [{ sample_error: `${marker}\u0000` }, 'body.sample_error'],
      [{ runtime_state: `${marker}${'w'.repeat(64)}` }, 'body.runtime_state'],
      [{ runtime_state: `wedged\n${marker}` }, 'body.runtime_state'],
      [{ runtime_metadata: marker }, 'body.runtime_metadata'],
      [{ runtime_metadata: { capabilities: { [marker]: 'yes' } } }, 'body.runtime_metadata.capabilities.*'],
      [{ runtime_metadata: { idle_timeout_seconds: marker } }, 'body.runtime_metadata.idle_timeout_seconds'],
    ];
    for (const [body, field] of cases) {
      const res = await p.api<{ code: string; details: Array<{ field: string }> }>('POST', '/registry/heartbeat', { workspace_id: id, ...body }, token);
      expect(res.status).toBe(400);
      expect(res.body.code).toBe('VALIDATION_FAILED');
      expect(res.body.details.map((d) => d.field)).toContain(field);
      expect(JSON.stringify(res.body)).not.toContain(marker);
    }
    // A capability name outside the allowed characters names nothing: dropped, the beat accepted.
    const odd = await p.api('POST', '/registry/heartbeat', { workspace_id: id, runtime_metadata: { capabilities: { [`${marker} x`]: true, scheduler: true } } }, token);
    expect(odd.status).toBe(200);
    const view = await read(id);
    expect(view.heartbeat.capabilities).toEqual({ scheduler: true });
    expect(view.heartbeat.runtime_state).toBe('');
    expect(view.heartbeat.error_rate).toBeNull();
    expect(view.status).toBe('online');
  });
});

describe('degraded in and out (A2.3)', () => {
  it('the agent stand-in reports the full body: online -> degraded -> online as its error rate moves, each with its event', async () => {
    const id = await createOnline(p, { name: 'Hb Degraded Docker', runtime: 'claude-code', compute: 'docker' });
    try {
      // Register and the provision run's own online step share one event: exactly one WORKSPACE_ONLINE.
      expect(await eventsOf(id, STATUS_EVENTS)).toEqual([{ event_type: EVENTS.workspaceOnline, payload: {} }]);
      // Its healthy heartbeats carry the whole report.
      const healthy = await waitFor('a full heartbeat from the stand-in', async () => {
        const view = await read(id);
        return view.heartbeat.uptime_seconds !== null ? view : null;
      });
      expect(healthy.heartbeat).toMatchObject({ error_rate: 0, runtime_state: '', active_tasks: 0, current_task: '', capabilities: {} });

      // (b) error_rate >= 0.5 degrades; further beats at that rate record nothing more.
      await agentReports(id, '"error_rate":0.75,"sample_error":"tool call timed out","runtime_state":""');
      await waitFor('degraded', async () => ((await read(id)).status === 'degraded' ? true : null));
      expect((await read(id)).last_sample_error).toBe('tool call timed out');
      // Between 0.1 and 0.5 it stays degraded (hysteresis); (c) below 0.1 with an empty runtime_state brings it back.
      await agentReports(id, '"error_rate":0.3,"runtime_state":""');
      await waitFor('a beat at 0.3', async () => ((await read(id)).heartbeat.error_rate === 0.3 ? true : null));
      expect((await read(id)).status).toBe('degraded');
      await agentReports(id, '"error_rate":0.05,"runtime_state":""');
      await waitFor('online again', async () => ((await read(id)).status === 'online' ? true : null));
      expect((await read(id)).last_sample_error).toBeNull();
      expect(await eventsOf(id, STATUS_EVENTS)).toEqual([
        { event_type: EVENTS.workspaceOnline, payload: {} },
        { event_type: EVENTS.workspaceDegraded, payload: { error_rate: 0.75, sample_error: 'tool call timed out' } },
        { event_type: EVENTS.workspaceOnline, payload: { recovered_from: 'degraded' } },
      ]);
    } finally {
      await p.api('DELETE', `/workspaces/${id}?confirm=true`);
      await removeWorkspaceContainer(p, id);
    }
  });

  it('wedged degrades even with status_mgmt; status_mgmt disables the error-rate rules', async () => {
    const { id, token } = await registeredExternal('Hb Wedged');
    const mgmt = { capabilities: { status_mgmt: true } };
    // (a): wedged, whatever the capability says.
    expect((await beat(id, token, { runtime_state: 'wedged', sample_error: 'event loop stuck', runtime_metadata: mgmt })).body.status).toBe('degraded');
    // (c) is disabled by the stored capability: a clean report does not bring it back.
    expect((await beat(id, token, { error_rate: 0, runtime_state: '' })).body.status).toBe('degraded');
    // Without the capability (c) applies; a runtime_state that is not empty still blocks it.
    expect((await beat(id, token, { error_rate: 0, runtime_state: 'busy', runtime_metadata: { capabilities: {} } })).body.status).toBe('degraded');
    expect((await beat(id, token, { error_rate: 0, runtime_state: '' })).body.status).toBe('online');
    // (b) is disabled by status_mgmt.
    expect((await beat(id, token, { error_rate: 0.99, runtime_metadata: mgmt })).body.status).toBe('online');
    expect(await eventsOf(id, STATUS_EVENTS)).toEqual([
      { event_type: EVENTS.workspaceOnline, payload: {} },
      { event_type: EVENTS.workspaceDegraded, payload: { runtime_state: 'wedged', sample_error: 'event loop stuck' } },
      { event_type: EVENTS.workspaceOnline, payload: { recovered_from: 'degraded' } },
    ]);
  });
});

describe('liveness (A1)', () => {
  it('an external agent: online -> awaiting_agent when silent (never offline) -> online on a heartbeat', async () => {
    const { id, token } = await registeredExternal('Hb External Liveness');
    expect((await read(id)).status).toBe('online');
    // Silent past REMOTE_LIVENESS_STALE_AFTER: the pass moves it to awaiting_agent.
    await waitFor('external awaiting_agent', async () => {
      await livenessPass();
      return (await read(id)).status === 'awaiting_agent' ? true : null;
    });
    // Silent far past the platform agents' offline threshold too: still awaiting_agent, never offline.
    await p.clients.pool.query(`UPDATE workspaces SET last_heartbeat_at = now() - interval '1 hour' WHERE id = $1`, [id]);
    await replayAndMaybeRecord(p.temporal, await livenessPass(), undefined, 'liveness-sweep');
    expect((await read(id)).status).toBe('awaiting_agent');

    const back = await beat(id, token, { error_rate: 0 });
    expect(back.body.status).toBe('online');
    expect(await eventsOf(id, STATUS_EVENTS)).toEqual([
      { event_type: EVENTS.workspaceOnline, payload: {} },
      { event_type: EVENTS.workspaceAwaitingAgent, payload: { reason: 'heartbeat_stale', stale_after_seconds: REMOTE_STALE_AFTER, previous_status: 'online' } },
      { event_type: EVENTS.workspaceOnline, payload: { recovered_from: 'awaiting_agent' } },
    ]);
  });

  it('a degraded external agent goes awaiting_agent too; a heartbeat recovers it and the report still applies', async () => {
    const { id, token } = await registeredExternal('Hb External Degraded Stale');
    await beat(id, token, { error_rate: 0.8 });
    await p.clients.pool.query(`UPDATE workspaces SET last_heartbeat_at = now() - interval '1 minute' WHERE id = $1`, [id]);
    await livenessPass();
    expect((await read(id)).status).toBe('awaiting_agent');
    // Back online, and the same report degrades it again: two events, in that order.
    expect((await beat(id, token, { error_rate: 0.8 })).body.status).toBe('degraded');
    expect((await eventsOf(id, STATUS_EVENTS)).map((e) => e.event_type)).toEqual([
      EVENTS.workspaceOnline, EVENTS.workspaceDegraded, EVENTS.workspaceAwaitingAgent, EVENTS.workspaceOnline, EVENTS.workspaceDegraded,
    ]);
  });

  it('a platform agent whose heartbeats stopped goes offline with WORKSPACE_OFFLINE; a heartbeat brings it back', async () => {
    const id = await createOnline(p, { name: 'Hb Offline Docker', runtime: 'claude-code', compute: 'docker' });
    try {
      const token = (await readTokenFile(p, id)).trim();
      // Stop the stand-in so it cannot heartbeat, and make its last beat older than 3 intervals (>= 90 s).
      await p.docker.getContainer(`ws-${id}`).stop({ t: 1 }).catch(() => undefined);
      await p.clients.pool.query(`UPDATE workspaces SET last_heartbeat_at = now() - interval '10 minutes' WHERE id = $1`, [id]);
      await livenessPass();
      expect((await read(id)).status).toBe('offline');
      expect((await beat(id, token)).body.status).toBe('online');
      expect(await eventsOf(id, STATUS_EVENTS)).toEqual([
        { event_type: EVENTS.workspaceOnline, payload: {} },
        { event_type: EVENTS.workspaceOffline, payload: { reason: 'heartbeat_stale', stale_after_seconds: 90, previous_status: 'online' } },
        { event_type: EVENTS.workspaceOnline, payload: { recovered_from: 'offline' } },
      ]);
    } finally {
      await p.api('DELETE', `/workspaces/${id}?confirm=true`);
      await removeWorkspaceContainer(p, id);
    }
  });

  it('recovery from provisioning carries recovered_from; paused, hibernated and removed rows are never moved', async () => {
    const { id, token } = await registeredExternal('Hb From Provisioning');
    await p.clients.pool.query(`UPDATE workspaces SET status = 'provisioning' WHERE id = $1`, [id]);
    expect((await beat(id, token)).body.status).toBe('online');
    expect((await eventsOf(id, STATUS_EVENTS)).at(-1)).toEqual({ event_type: EVENTS.workspaceOnline, payload: { recovered_from: 'provisioning' } });

    for (const status of ['paused', 'hibernated', 'hibernating', 'failed'] as const) {
      const held = await registeredExternal(`Hb Held ${status}`);
      await p.clients.pool.query(`UPDATE workspaces SET status = $2, last_heartbeat_at = now() - interval '1 hour' WHERE id = $1`, [held.id, status]);
      await livenessPass();
      expect((await read(held.id)).status).toBe(status);
      const res = await beat(held.id, held.token, { error_rate: 0.9, runtime_state: 'wedged', active_tasks: 2 });
      expect(res.status).toBe(200);
      expect(res.body.status).toBe(status);
      const view = await read(held.id);
      expect(view.status).toBe(status);
      expect(view.heartbeat.active_tasks).toBe(2); // the report is kept; only the status is left alone
      expect(await eventsOf(held.id, STATUS_EVENTS)).toHaveLength(1); // its register's WORKSPACE_ONLINE only
    }

    const gone = await registeredExternal('Hb Removed');
    expect((await p.api('DELETE', `/workspaces/${gone.id}?confirm=true`)).status).toBe(200);
    expect((await beat(gone.id, gone.token)).status).toBeGreaterThanOrEqual(400);
    const { rows } = await p.clients.pool.query('SELECT status FROM workspaces WHERE id = $1', [gone.id]);
    expect(rows[0].status).toBe('removed');
  });

  it('the liveness schedule runs every 15 s and is created idempotently', async () => {
    const { ensureLivenessSchedule } = await import('../../worker/sweeper-schedule');
    expect(await ensureLivenessSchedule(p.temporal, p.taskQueue)).toBe('created');
    const handle = p.temporal.schedule.getHandle('liveness-sweeper');
    try {
      expect(await ensureLivenessSchedule(p.temporal, p.taskQueue)).toBe('exists');
      expect((await handle.describe()).spec.intervals?.[0]?.every).toBe(15_000);
    } finally {
      await handle.delete();
    }
  });
});
