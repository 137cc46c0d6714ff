// Request limits the app enforces and its error answers quote: one number for both, so they cannot drift.

export const BODY_LIMIT_BYTES = 1024 * 1024;

/** `1 MiB`, `512 KiB` or `1000 bytes`: the largest unit that states the limit exactly. */
export function describeBytes(bytes: number): string {
  if (bytes >= 1024 * 1024 && bytes % (1024 * 1024) === 0) return `${bytes / (1024 * 1024)} MiB`;
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return `${bytes} bytes`;
}
