// Small helpers both compute adapters (docker-compute.ts, ec2-compute.ts) use.

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * The newest `max` bytes of an output (container log, EC2 console), decoded. Cutting at a byte offset
 * can land inside a multi-byte character; its leftover continuation bytes are dropped rather than shown
 * as U+FFFD.
 */
export function boundedText(buf: Buffer, max: number): string {
  if (buf.length <= max) return buf.toString('utf8');
  let start = buf.length - max;
  while (start < buf.length && (buf[start] & 0xc0) === 0x80) start++; // skip UTF-8 continuation bytes
  return buf.subarray(start).toString('utf8');
}
