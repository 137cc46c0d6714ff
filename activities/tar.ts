// Minimal POSIX ustar writer: enough to hand a few small files to the Docker API's putArchive
// (PUT /containers/{id}/archive), which expects a tar stream. Pure: same input, same bytes.
//
// Layout: per file a 512-byte header, the content, zero padding to a 512-byte boundary; the archive
// ends with two zero blocks. Only regular files at the top level of the target directory (or below
// directories that already exist there) are written; owner root, mode 0600 unless told otherwise.

export const TAR_BLOCK = 512;
/** The ustar name field holds 100 bytes; longer names would need the prefix field or pax headers. */
export const TAR_MAX_NAME_BYTES = 100;
/** The size field holds 11 octal digits. */
const MAX_SIZE = 8 ** 11 - 1;

export interface TarOptions {
  /** Permission bits of every entry; default 0o600 (the files carry secrets such as the auth token). */
  mode?: number;
  /** Modification time (seconds since the epoch) of every entry; default now. */
  mtime?: number;
  uid?: number;
  gid?: number;
}

function octal(value: number, width: number): string {
  // width-1 zero-padded octal digits followed by a NUL, as GNU and BSD tar write them.
  return value.toString(8).padStart(width - 1, '0') + '\0';
}

function checkName(name: string): void {
  if (name === '') throw new Error('tar entry name is empty');
  if (name.includes('\0')) throw new Error('tar entry name contains NUL');
  if (Buffer.byteLength(name, 'utf8') > TAR_MAX_NAME_BYTES) throw new Error(`tar entry name longer than ${TAR_MAX_NAME_BYTES} bytes`);
  if (name.startsWith('/') || name.split('/').some((part) => part === '..' || part === '')) {
    throw new Error('tar entry name must be a relative path without empty or ".." components');
  }
}

function header(name: string, size: number, opts: Required<TarOptions>): Buffer {
  const h = Buffer.alloc(TAR_BLOCK, 0);
  h.write(name, 0, TAR_MAX_NAME_BYTES, 'utf8'); // a 100-byte name fills the field, no NUL needed
  h.write(octal(opts.mode, 8), 100, 8, 'ascii');
  h.write(octal(opts.uid, 8), 108, 8, 'ascii');
  h.write(octal(opts.gid, 8), 116, 8, 'ascii');
  h.write(octal(size, 12), 124, 12, 'ascii');
  h.write(octal(opts.mtime, 12), 136, 12, 'ascii');
  h.write('        ', 148, 8, 'ascii'); // checksum field counts as eight spaces while summing
  h.write('0', 156, 1, 'ascii'); // typeflag: regular file
  h.write('ustar\0', 257, 6, 'ascii'); // magic
  h.write('00', 263, 2, 'ascii'); // version
  let sum = 0;
  for (const byte of h) sum += byte;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'ascii');
  return h;
}

export function tarFiles(files: Record<string, string | Buffer>, opts: TarOptions = {}): Buffer {
  const resolved: Required<TarOptions> = {
    mode: opts.mode ?? 0o600,
    mtime: opts.mtime ?? Math.floor(Date.now() / 1000),
    uid: opts.uid ?? 0,
    gid: opts.gid ?? 0,
  };
  if (!Number.isInteger(resolved.mode) || resolved.mode < 0 || resolved.mode > 0o7777) throw new Error('tar mode out of range');
  if (!Number.isInteger(resolved.mtime) || resolved.mtime < 0 || resolved.mtime > MAX_SIZE) throw new Error('tar mtime out of range');
  const parts: Buffer[] = [];
  for (const [name, content] of Object.entries(files)) {
    checkName(name);
    const data = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
    if (data.length > MAX_SIZE) throw new Error('tar entry too large');
    parts.push(header(name, data.length, resolved), data);
    const pad = (TAR_BLOCK - (data.length % TAR_BLOCK)) % TAR_BLOCK;
    if (pad) parts.push(Buffer.alloc(pad, 0));
  }
  parts.push(Buffer.alloc(TAR_BLOCK * 2, 0)); // end of archive: two zero blocks
  return Buffer.concat(parts);
}
