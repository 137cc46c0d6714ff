// The `cursor` of GET /workspaces: the position of the last row of a page (created_at to the
// microsecond, UTC, and id), opaque to clients (base64url) and parsed strictly when it comes back.

export interface ListCursor {
  createdAt: string;
  id: string;
}

const POSITION = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z)_([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;

export function formatListCursor(cursor: ListCursor): string {
  return Buffer.from(`${cursor.createdAt}_${cursor.id}`, 'utf8').toString('base64url');
}

/** null for anything that is not a cursor this platform issued (the caller answers 400). */
export function parseListCursor(text: string): ListCursor | null {
  if (!/^[A-Za-z0-9_-]{1,200}$/.test(text)) return null;
  const m = POSITION.exec(Buffer.from(text, 'base64url').toString('utf8'));
  if (!m || Number.isNaN(Date.parse(m[1]))) return null;
  return { createdAt: m[1], id: m[2] };
}
