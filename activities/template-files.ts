// What a workspace's /configs gets from its template directory (SPEC-ADDENDUM A6.1-2): the files under
// its `files_dir`, and the `plugins/<name>/` directories it names. Read once, when the import is
// accepted, and stored with the import (the snapshot), so a retry or a rebuild months later writes the
// same files whatever happened to the directory since.
//
// Confinement: every entry is resolved through its symlinks and must stay under the template root's
// real path; a symlink pointing out of the root is a template error, never a copy of what it points at.
// `.env` files are not copied: their values are secrets and go to the encrypted env instead (A7).
import { constants as fsConstants, promises as fs } from 'node:fs';
import * as nodePath from 'node:path';
import { TemplateError } from '../domain/org-template';

export interface TemplateFile {
  /** POSIX path relative to /configs. */
  path: string;
  content: Buffer;
}

export const TEMPLATE_FILE_LIMITS = {
  /** Per file, per workspace's set, and entries per set: a template is user input. */
  maxFileBytes: 1024 * 1024,
  maxSetBytes: 10 * 1024 * 1024,
  maxFiles: 500,
  /** The tar entries written into the config volume hold 100-byte names. */
  maxPathBytes: 100,
} as const;

const SKIPPED = new Set(['.env', '.git']);

function fail(code: 'include_escape' | 'file_too_large' | 'invalid_include_path', message: string, file: string): never {
  throw new TemplateError(code, message, file, '');
}

/** Real path of `relDir` under `root`, or null when it is not an existing directory (then it is ignored, A6.1). */
async function confinedDir(rootReal: string, relDir: string): Promise<string | null> {
  if (!relDir || nodePath.isAbsolute(relDir) || relDir.includes('\\') || relDir.includes('\0')) return null;
  const joined = nodePath.resolve(rootReal, relDir);
  if (joined !== rootReal && !joined.startsWith(rootReal + nodePath.sep)) fail('include_escape', 'files_dir escapes the template root', relDir);
  let real: string;
  try {
    real = await fs.realpath(joined);
  } catch {
    return null;
  }
  if (real !== rootReal && !real.startsWith(rootReal + nodePath.sep)) fail('include_escape', 'files_dir resolves outside the template root', relDir);
  const stat = await fs.stat(real);
  return stat.isDirectory() ? real : null;
}

/**
 * Every regular file under `relDir` (symlinks followed inside the root), as paths under `prefix`.
 * A missing or non-directory `relDir` gives no files.
 */
export async function readTemplateFiles(root: string, relDir: string, prefix = ''): Promise<TemplateFile[]> {
  const rootReal = await fs.realpath(root);
  const start = await confinedDir(rootReal, relDir);
  if (!start) return [];
  const out: TemplateFile[] = [];
  let total = 0;
  const visiting = new Set<string>();

  async function walk(realDir: string, rel: string): Promise<void> {
    if (visiting.has(realDir)) fail('include_escape', 'files_dir contains a symlink cycle', relDir);
    visiting.add(realDir);
    const entries = (await fs.readdir(realDir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name));
    for (const entry of entries) {
      if (SKIPPED.has(entry.name)) continue;
      const relPath = rel ? `${rel}/${entry.name}` : entry.name;
      const shown = nodePath.posix.join(relDir, relPath);
      let real: string;
      try {
        real = await fs.realpath(nodePath.join(realDir, entry.name));
      } catch {
        continue; // a dangling symlink: nothing to copy
      }
      if (real !== rootReal && !real.startsWith(rootReal + nodePath.sep)) fail('include_escape', 'a symlink in files_dir points outside the template root', shown);
      const stat = await fs.stat(real);
      if (stat.isDirectory()) {
        await walk(real, relPath);
        continue;
      }
      if (!stat.isFile()) continue; // FIFOs, sockets, devices: never opened
      const target = prefix ? `${prefix}/${relPath}` : relPath;
      if (Buffer.byteLength(target) > TEMPLATE_FILE_LIMITS.maxPathBytes) fail('invalid_include_path', 'a path in files_dir is too long', shown);
      if (out.length >= TEMPLATE_FILE_LIMITS.maxFiles) fail('file_too_large', 'files_dir holds too many files', relDir);
      if (stat.size > TEMPLATE_FILE_LIMITS.maxFileBytes) fail('file_too_large', 'a file in files_dir is too large', shown);
      total += stat.size;
      if (total > TEMPLATE_FILE_LIMITS.maxSetBytes) fail('file_too_large', 'files_dir is too large', relDir);
      // O_NOFOLLOW: the path resolved above is opened as it is, not through a symlink swapped in since.
      const handle = await fs.open(real, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK | fsConstants.O_NOFOLLOW);
      try {
        const content = await handle.readFile();
        if (content.length > TEMPLATE_FILE_LIMITS.maxFileBytes) fail('file_too_large', 'a file in files_dir is too large', shown);
        out.push({ path: target, content });
      } finally {
        await handle.close();
      }
    }
    visiting.delete(realDir);
  }

  await walk(start, '');
  return out;
}
