// A position in an import's items, in (depth, key) order: where a page of GET /org/imports/:id ended
// (?items_after=, opaque to clients, base64url so it travels in a query string as it is), and where the
// import's paged provisioning phase stands (every item at or before it has its outcome recorded).
export const DEFAULT_ITEMS_PAGE = 1000;
export const MAX_ITEMS_PAGE = 5000;
export const ITEM_CURSOR_PATTERN = /^[A-Za-z0-9_-]{1,4000}$/;

export interface ItemCursor {
  depth: number;
  key: string;
}

export function formatItemCursor(c: ItemCursor): string {
  return Buffer.from(JSON.stringify([c.depth, c.key]), 'utf8').toString('base64url');
}

/** The cursor, or undefined when the text is not one this platform issued. */
export function parseItemCursor(text: string): ItemCursor | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
    if (!Array.isArray(value) || value.length !== 2) return undefined;
    const [depth, key] = value as [unknown, unknown];
    if (typeof depth !== 'number' || !Number.isInteger(depth) || depth < 0 || depth > 1000 || typeof key !== 'string' || key.length > 2000) return undefined;
    return { depth, key };
  } catch {
    return undefined;
  }
}
