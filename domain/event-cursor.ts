// The position of an event in the stream: the inserting transaction's id and the event's id (see
// migration event_stream_order). Sent as the SSE `id:` and read back from Last-Event-ID, so it is
// parsed strictly: two decimal numbers, bounded length, nothing else.

export interface EventCursor {
  /** xid8 as decimal text (it can exceed 2^53). */
  tx: string;
  id: string;
}

const CURSOR = /^(\d{1,20})-(\d{1,19})$/;
/** Its shape, for request schemas (a value of that shape beyond xid8/bigint is still refused). */
export const EVENT_CURSOR_PATTERN = CURSOR;

export function formatEventCursor(cursor: EventCursor): string {
  return `${cursor.tx}-${cursor.id}`;
}

/** null for anything that is not a cursor this platform issued (the caller answers 400). */
export function parseEventCursor(text: string): EventCursor | null {
  const m = CURSOR.exec(text);
  if (!m) return null;
  // Both must fit Postgres' xid8 / bigint; 20 digits can exceed 2^64-1.
  if (BigInt(m[1]) > 2n ** 64n - 1n || BigInt(m[2]) > 2n ** 63n - 1n) return null;
  return { tx: m[1], id: m[2] };
}
