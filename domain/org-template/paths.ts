// The one guard for every path a template names (includes, external paths, files_dir). It works on
// POSIX strings only, so it behaves the same for the in-memory source, the disk source and git caches.
import { PathSegment, TemplateError, formatPath } from './errors';
import { LIMITS } from './limits';

export const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f]/;

export interface PathContext {
  file: string;
  path: readonly PathSegment[];
  /** What the path is, for the message: 'include', 'files_dir', ... */
  what: string;
}

/**
 * Resolves `raw` against `baseDir` (both relative to the template root) and returns the normalised
 * root-relative path ('' is the root itself). Rejects absolute paths, `..` that climbs above the root,
 * NUL/control characters and backslashes (a Windows separator would be a second way to spell `..`).
 * Nothing is percent-decoded: `%2e%2e` is an ordinary file name inside the root.
 */
export function resolveTemplatePath(raw: unknown, baseDir: string, ctx: PathContext): string {
  const fail = (code: 'invalid_include_path' | 'include_escape', message: string): never => {
    throw new TemplateError(code, message, ctx.file, formatPath(ctx.path));
  };
  if (typeof raw !== 'string' || raw.length === 0) fail('invalid_include_path', `${ctx.what} path must be a non-empty string`);
  const text = raw as string;
  if (text.length > LIMITS.maxPathLength) fail('invalid_include_path', `${ctx.what} path is too long`);
  if (CONTROL_CHARS.test(text)) fail('include_escape', `${ctx.what} path contains control characters`);
  if (text.includes('\\')) fail('include_escape', `${ctx.what} path contains a backslash`);
  if (text.startsWith('/') || /^[A-Za-z]:/.test(text)) fail('include_escape', `${ctx.what} path must be relative to the template root`);

  const out: string[] = [];
  for (const part of [...splitPath(baseDir), ...text.split('/')]) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length === 0) fail('include_escape', `${ctx.what} path escapes the template root`);
      out.pop();
    } else {
      out.push(part);
    }
  }
  return out.join('/');
}

export function dirnameOf(relPath: string): string {
  const i = relPath.lastIndexOf('/');
  return i < 0 ? '' : relPath.slice(0, i);
}

function splitPath(p: string): string[] {
  return p === '' ? [] : p.split('/');
}
