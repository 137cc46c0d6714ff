// Issue #16 (events you can watch): a workspace's event history in cursor pages, and the live stream
// of events (Server-Sent Events) with Last-Event-ID resume, filters, keep-alives, a bound on open
// streams and on what a slow client may queue. Events are recorded by the store's real statements.
import { randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import { EVENTS } from '../../domain/vocabulary';
import { ADMIN_TOKEN, startPlatform, waitFor, type Platform } from './support/platform';

interface StreamEvent {
  id: string;
  event: string;
  data: { id: string; type: string; workspace_id: string | null; org_import_id: string | null };
}

/** An SSE client over fetch: collects events until closed; `comments` counts keep-alives. */
function openStream(p: Platform, query = '', lastEventId?: string) {
  const controller = new AbortController();
  const events: StreamEvent[] = [];
  let comments = 0;
  let status = 0;
  const headers: Record<string, string> = { authorization: `Bearer ${ADMIN_TOKEN}` };
  if (lastEventId) headers['last-event-id'] = lastEventId;
  const done = (async () => {
    const res = await fetch(`${p.url}/events/stream${query}`, { headers, signal: controller.signal });
    status = res.status;
    if (!res.ok || !res.body) return;
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          if (frame.startsWith(':')) comments++;
          const fields = Object.fromEntries(frame.split('\n').filter((l) => !l.startsWith(':')).map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()]));
          if (fields.data) events.push({ id: fields.id, event: fields.event, data: JSON.parse(fields.data) });
        }
      }
    } catch {
      /* aborted */
    }
  })();
  return {
    events,
    status: () => status,
    comments: () => comments,
    async close() {
      controller.abort();
      await done;
    },
  };
}

async function newWorkspaces(p: Platform, n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const row = await p.clients.store.createWorkspace({
      name: `Events ${randomUUID().slice(0, 8)}`, role: '', tier: 1, runtime: 'external', compute: 'none', parentId: null,
      deliveryMode: 'poll', updateTier: 'production', model: null, budgetLimit: null, maxConcurrentTasks: 1, provisionTimeoutSeconds: null,
    });
    ids.push(row.id);
  }
  return ids;
}

/** One status change with its event, through the store's one-statement transition. */
const transition = (p: Platform, id: string, status: 'online' | 'offline', type: string) =>
  p.clients.store.setStatus(id, status, {}, { type: type as never, dedupeKey: `${id}:${type}:${randomUUID()}` });

describe('event history and stream', () => {
  let p: Platform;
  beforeAll(async () => {
    p = await startPlatform({ worker: false, env: { EVENT_STREAM_MAX: '3', EVENT_STREAM_KEEPALIVE_SECONDS: '1' } });
  });
  afterAll(async () => {
    await p?.close();
  });

  it('pages a workspace history newest first with a cursor; 404 unknown, 400 bad cursor', async () => {
    const [id] = await newWorkspaces(p, 1);
    for (const s of ['online', 'offline', 'online', 'offline', 'online'] as const) await transition(p, id, s, s === 'online' ? EVENTS.workspaceOnline : 'WORKSPACE_OFFLINE');
    const seen: string[] = [];
    let before: string | null = null;
    for (let page = 0; page < 5; page++) {
      const res: { status: number; body: { events: Array<{ id: string; type: string }>; next_cursor: string | null } } = await p.api('GET', `/workspaces/${id}/events?limit=2${before ? `&before=${before}` : ''}`);
      expect(res.status).toBe(200);
      seen.push(...res.body.events.map((e) => e.id));
      before = res.body.next_cursor;
      if (!before) break;
    }
    expect(seen).toHaveLength(5);
    expect(new Set(seen).size).toBe(5);
    expect((await p.api('GET', `/workspaces/${randomUUID()}/events`)).status).toBe(404);
    for (const bad of ['x', '1-', '-1', '1-2-3', `${'9'.repeat(21)}-1`, "1-1' OR 1=1"]) {
      const res = await p.api<{ code: string }>('GET', `/workspaces/${id}/events?before=${encodeURIComponent(bad)}`);
      expect(res.status).toBe(400);
      expect(JSON.stringify(res.body)).not.toContain(bad);
    }
  });

  it('a client forced to disconnect resumes with Last-Event-ID and receives every event exactly once while 100 workspaces change status', async () => {
    const ids = await newWorkspaces(p, 100);
    const ours = new Set(ids);
    const received: StreamEvent[] = [];
    let stream = openStream(p);
    await waitFor('stream open', async () => stream.status() === 200 || null);

    let driving = true;
    const driver = (async () => {
      for (let i = 0; i < ids.length; i += 10) {
        await Promise.all(ids.slice(i, i + 10).map(async (id) => {
          await transition(p, id, 'online', EVENTS.workspaceOnline);
          await transition(p, id, 'offline', 'WORKSPACE_OFFLINE');
        }));
      }
      driving = false;
    })();

    await waitFor('the first events', async () => stream.events.filter((e) => ours.has(e.data.workspace_id ?? '')).length >= 40 || null, 60_000);
    await stream.close(); // forced disconnect in the middle of the changes
    received.push(...stream.events);
    const last = received.at(-1)!.id;
    await new Promise((r) => setTimeout(r, 300)); // events keep happening while the client is away
    stream = openStream(p, '', last);
    await driver;
    expect(driving).toBe(false);
    await waitFor('every event', async () => [...received, ...stream.events].filter((e) => ours.has(e.data.workspace_id ?? '')).length >= 200 || null, 60_000);
    await new Promise((r) => setTimeout(r, 1000)); // a late duplicate would arrive now
    await stream.close();
    received.push(...stream.events);

    const mine = received.filter((e) => ours.has(e.data.workspace_id ?? ''));
    const keys = mine.map((e) => `${e.data.workspace_id}:${e.data.type}`);
    expect(mine).toHaveLength(200);
    expect(new Set(keys).size).toBe(200);
    expect(new Set(mine.map((e) => e.id)).size).toBe(200);
    expect(mine.every((e) => e.event === e.data.type)).toBe(true);
  });

  it('filters by workspace and by import, and sends keep-alives on an idle stream', async () => {
    const [a, b] = await newWorkspaces(p, 2);
    const importId = randomUUID();
    const onlyA = openStream(p, `?workspace_id=${a}`);
    const onlyImport = openStream(p, `?org_import_id=${importId}`);
    await waitFor('streams open', async () => (onlyA.status() === 200 && onlyImport.status() === 200) || null);
    await transition(p, a, 'online', EVENTS.workspaceOnline);
    await transition(p, b, 'online', EVENTS.workspaceOnline);
    await p.clients.store.recordEvent(EVENTS.orgImportStarted, { orgImportId: importId, payload: { name: 'x' } });
    await waitFor('filtered events', async () => (onlyA.events.length >= 1 && onlyImport.events.length >= 1) || null);
    await waitFor('a keep-alive', async () => onlyA.comments() >= 1 || null, 10_000);
    await onlyA.close();
    await onlyImport.close();
    expect(onlyA.events.map((e) => e.data.workspace_id)).toEqual([a]);
    expect(onlyImport.events.map((e) => e.data.type)).toEqual([EVENTS.orgImportStarted]);
  });

  it('admits EVENT_STREAM_MAX streams and answers 429 beyond; bad input is 400 without echo', async () => {
    const streams = [openStream(p), openStream(p), openStream(p)];
    await waitFor('three open', async () => streams.every((s) => s.status() === 200) || null);
    const extra = await p.api<{ code: string }>('GET', '/events/stream');
    expect(extra.status).toBe(429);
    expect(extra.body.code).toBe('TOO_MANY_STREAMS');
    for (const s of streams) await s.close();
    await waitFor('slots free again', async () => {
      const again = openStream(p);
      await waitFor('answered', async () => again.status() || null);
      const ok = again.status() === 200;
      await again.close();
      return ok || null;
    });
    expect((await p.api('GET', '/events/stream?workspace_id=nope')).status).toBe(400);
    const bad = await p.api('GET', '/events/stream?last_event_id=evil%3Cscript%3E');
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).not.toContain('evil');
    expect((await p.api('GET', '/events/stream', undefined, null)).status).toBe(401);
  });
});

describe('a client that does not read', () => {
  let p: Platform;
  beforeAll(async () => {
    p = await startPlatform({ worker: false, env: { EVENT_STREAM_MAX: '1', EVENT_STREAM_BUFFER_BYTES: '4096' } });
  });
  afterAll(async () => {
    await p?.close();
  });

  it('is disconnected once its queue passes the bound, and the slot is free again', async () => {
    const [id] = await newWorkspaces(p, 1);
    const port = new URL(p.url).port;
    const socket = connect(Number(port), '127.0.0.1');
    socket.on('error', () => undefined);
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.write(`GET /events/stream?workspace_id=${id} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${ADMIN_TOKEN}\r\n\r\n`);
    socket.pause(); // never reads: the kernel buffers fill, then the server's queue grows
    await waitFor('the slow stream holds the only slot', async () => (await p.api('GET', '/events/stream')).status === 429 || null);
    // Many large events for that workspace: far more than the socket buffers hold.
    await p.clients.pool.query(
      `INSERT INTO structure_events (event_type, workspace_id, payload) SELECT 'SLOW_TEST', $1, jsonb_build_object('pad', repeat('x', 2000)) FROM generate_series(1, 20000)`,
      [id],
    );
    await p.clients.pool.query(`SELECT pg_notify('molecule_events', '{}')`);
    const freed = await waitFor('the slow client was dropped', async () => {
      const probe = openStream(p);
      await waitFor('answered', async () => probe.status() || null);
      const ok = probe.status() === 200;
      await probe.close();
      return ok || null;
    }, 60_000);
    expect(freed).toBe(true);
    socket.destroy();
  });
});
