// One LISTEN connection per API process on the channel every event insert NOTIFYs. It only wakes the
// open streams: what they send is read from structure_events (see store/events.ts), so a lost
// notification, a reconnect of this connection or a slow client never loses an event; it is at worst
// sent on the streams' next poll.
import { Client } from 'pg';

const CHANNEL = 'molecule_events';
const RECONNECT_MS = 1000;

export interface EventHub {
  /** Calls `wake` on every notification until the returned function is called. */
  subscribe(wake: () => void): () => void;
  close(): Promise<void>;
}

export function createEventHub(databaseUrl: string, log: { warn(obj: object, msg?: string): void }): EventHub {
  const listeners = new Set<() => void>();
  let client: Client | null = null;
  let connecting: Promise<void> | null = null;
  let closed = false;

  function wakeAll(): void {
    for (const wake of listeners) wake();
  }

  function connect(): Promise<void> {
    if (client || connecting || closed) return connecting ?? Promise.resolve();
    const next = new Client({ connectionString: databaseUrl });
    const retry = (err: Error) => {
      log.warn({ err: err.message }, 'event stream LISTEN connection lost; reconnecting');
      if (client === next) client = null;
      next.end().catch(() => undefined);
      // Streams still poll while the LISTEN is down; a wake now makes them catch up at once.
      wakeAll();
      if (!closed && listeners.size > 0) setTimeout(() => void connect(), RECONNECT_MS).unref();
    };
    next.on('error', retry);
    next.on('notification', wakeAll);
    connecting = next
      .connect()
      .then(() => next.query(`LISTEN ${CHANNEL}`))
      .then(() => {
        client = next;
      })
      .catch(retry)
      .finally(() => {
        connecting = null;
      });
    return connecting;
  }

  return {
    subscribe(wake) {
      listeners.add(wake);
      void connect();
      return () => {
        listeners.delete(wake);
      };
    },
    async close() {
      closed = true;
      listeners.clear();
      await connecting;
      await client?.end().catch(() => undefined);
      client = null;
    },
  };
}
