// Minimal POSIX ustar writer: enough to hand a few small files to the Docker API's putArchive
// (PUT /containers/{id}/archive), which expects a tar stream. Pure: same input, same bytes.
//
// Layout: per file a 512-byte header, the content, zero padding to a 512-byte boundary; the archive
// ends with two zero blocks. Regular files, each preceded (once) by directory entries for its parent
// directories, so `skills/review/SKILL.md` lands in a fresh volume; owner root, files 0600 and
// directories 0700 unless told otherwise.

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

function header(name: string, size: number, opts: Required<TarOptions>, type: '0' | '5' = '0'): Buffer {
  const h = Buffer.alloc(TAR_BLOCK, 0);
  h.write(name, 0, TAR_MAX_NAME_BYTES, 'utf8'); // a 100-byte name fills the field, no NUL needed
  h.write(octal(opts.mode, 8), 100, 8, 'ascii');
  h.write(octal(opts.uid, 8), 108, 8, 'ascii');
  h.write(octal(opts.gid, 8), 116, 8, 'ascii');
  h.write(octal(size, 12), 124, 12, 'ascii');
  h.write(octal(opts.mtime, 12), 136, 12, 'ascii');
  h.write('        ', 148, 8, 'ascii'); // checksum field counts as eight spaces while summing
  h.write(type, 156, 1, 'ascii'); // typeflag: 0 regular file, 5 directory
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
  const dirs = new Set<string>();
  const dirMode = { ...resolved, mode: (resolved.mode & 0o777) | ((resolved.mode & 0o444) >> 2) };
  for (const [name, content] of Object.entries(files)) {
    checkName(name);
    const segments = name.split('/');
    for (let i = 1; i < segments.length; i++) {
      const dir = `${segments.slice(0, i).join('/')}/`;
      if (dirs.has(dir)) continue;
      dirs.add(dir);
      parts.push(header(dir, 0, dirMode, '5'));
    }
    const data = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
    if (data.length > MAX_SIZE) throw new Error('tar entry too large');
    parts.push(header(name, data.length, resolved), data);
    const pad = (TAR_BLOCK - (data.length % TAR_BLOCK)) % TAR_BLOCK;
    if (pad) parts.push(Buffer.alloc(pad, 0));
  }
  parts.push(Buffer.alloc(TAR_BLOCK * 2, 0)); // end of archive: two zero blocks
  return Buffer.concat(parts);
}
