/**
 * A JSON-like mapping: what YAML and JSON.parse produce. Class instances (Date, Buffer, Map) are not.
 * Checked structurally rather than against this realm's Object.prototype, so a plain object created in
 * another realm (a vm context, structuredClone under a test runner) still counts.
 */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Object.prototype.toString.call(value) !== '[object Object]') return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === null || Object.getPrototypeOf(proto) === null;
}
