// Where template files come from. The parser only sees this interface, so the same core runs on an
// in-memory map (tests, inline previews), a directory on disk, or a git checkout in the external cache.
import { constants as fsConstants, promises as fs } from 'node:fs';
import * as nodePath from 'node:path';
import { TemplateError } from './errors';
import { LIMITS } from './limits';
import { resolveTemplatePath } from './paths';

/** Paths are POSIX, relative to the org template root. */
export interface TemplateFileSource {
  /** Throws TemplateError `file_not_found` (or `include_escape` / `file_too_large`). */
  read(relPath: string): Promise<string>;
  /**
   * Resolves symlinks and returns a canonical identity for the path (used for cycle detection and
   * escape checks). Throws `include_escape` when the real location lies outside the root.
   */
  realPath?(relPath: string): Promise<string>;
}

export function memoryFileSource(files: Record<string, string>): TemplateFileSource {
  // A Map, not the object itself: a lookup of `constructor` or `__proto__` must not hit the prototype.
  const map = new Map(Object.entries(files));
  return {
    async read(relPath) {
      const text = map.get(relPath);
      if (text === undefined) throw new TemplateError('file_not_found', 'file not found', relPath, '');
      return text;
    },
  };
}

/** A source confined to `rootDir`: lexical `..` escapes and symlinks pointing outside are rejected. */
const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true });

export function diskFileSource(rootDir: string): TemplateFileSource {
  let rootReal: Promise<string> | undefined;
  const root = () => (rootReal ??= fs.realpath(nodePath.resolve(rootDir)));

  async function resolveReal(relPath: string): Promise<string> {
    const rel = resolveTemplatePath(relPath, '', { file: relPath, path: [], what: 'file' });
    const base = await root().catch(() => {
      throw new TemplateError('file_not_found', 'template directory not found', '', '');
    });
    let real: string;
    try {
      real = await fs.realpath(nodePath.join(base, ...rel.split('/')));
    } catch {
      throw new TemplateError('file_not_found', 'file not found', relPath, '');
    }
    if (real !== base && !real.startsWith(base + nodePath.sep)) {
      throw new TemplateError('include_escape', 'path resolves outside the template root', relPath, '');
    }
    return real;
  }

  return {
    realPath: resolveReal,
    async read(relPath) {
      const real = await resolveReal(relPath);
      // O_NONBLOCK so a FIFO planted in the tree cannot hang the open; O_NOFOLLOW so a symlink swapped
      // in after realpath() is refused rather than followed.
      let handle: fs.FileHandle;
      try {
        handle = await fs.open(real, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK | fsConstants.O_NOFOLLOW);
      } catch {
        throw new TemplateError('file_not_found', 'file not found', relPath, '');
      }
      try {
        const stat = await handle.stat();
        if (!stat.isFile()) throw new TemplateError('file_not_found', 'not a regular file', relPath, '');
        if (stat.size > LIMITS.maxFileBytes) throw new TemplateError('file_too_large', 'file is too large', relPath, '');
        // Read at most one byte past the limit: the file may grow between stat and read.
        const buffer = Buffer.alloc(LIMITS.maxFileBytes + 1);
        let bytesRead = 0;
        for (;;) {
          const { bytesRead: n } = await handle.read(buffer, bytesRead, buffer.length - bytesRead, bytesRead);
          if (n === 0) break;
          bytesRead += n;
          if (bytesRead === buffer.length) break;
        }
        if (bytesRead > LIMITS.maxFileBytes) throw new TemplateError('file_too_large', 'file is too large', relPath, '');
        // Strict: Buffer#toString would turn bad bytes into U+FFFD and let a malformed name through.
        try {
          return STRICT_UTF8.decode(buffer.subarray(0, bytesRead));
        } catch {
          throw new TemplateError('yaml_invalid', 'file is not valid UTF-8', relPath, '');
        }
      } finally {
        await handle.close();
      }
    },
  };
}
