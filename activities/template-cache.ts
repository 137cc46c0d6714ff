// The on-disk cache of `!external` checkouts: one directory per (repository, commit), published
// atomically and evicted least-recently-used beyond a size bound.
// - An entry is built in a temporary sibling with its `.complete` marker already inside, then renamed
//   into place: a reader sees a whole entry or none, and a second fetcher that loses the rename race
//   uses the winner's entry. A directory without the marker can only be a leftover (older code, a
//   crash mid-copy); it is moved aside and removed, never deleted in place under a reader.
// - Use refreshes the marker's mtime (the LRU clock); entries used within the grace period are never
//   evicted, since an import may still be reading them.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const COMPLETE_MARKER = '.complete';
const ENTRY_NAME = /^[0-9a-f]{64}$/;
const TEMP_NAME = /^[0-9a-f]{64}\.tmp-[0-9a-f]+$|^trash-[0-9a-f]+$/;
/** Temporary directories this old belong to a fetch that died. */
const STALE_TEMP_MS = 60 * 60 * 1000;

export function entryName(repo: string, commit: string): string {
  return createHash('sha256').update(JSON.stringify([repo, commit])).digest('hex');
}

/** Bytes under `path` (symlinks counted as links, never followed). */
export function treeBytes(path: string): number {
  const st = lstatSync(path, { throwIfNoEntry: false });
  if (!st) return 0;
  if (!st.isDirectory()) return st.size;
  let total = 0;
  for (const name of readdirSync(path)) total += treeBytes(join(path, name));
  return total;
}

/** Moves a directory out of the way atomically, then deletes it: a concurrent reader never sees half of it. */
function discard(cacheDir: string, dir: string): void {
  const trash = join(cacheDir, `trash-${randomBytes(6).toString('hex')}`);
  try {
    renameSync(dir, trash);
  } catch {
    return; // someone else moved it first
  }
  rmSync(trash, { recursive: true, force: true });
}

export interface TemplateCache {
  /** The entry's directory if it is complete (its LRU clock refreshed), else null. */
  lookup(name: string): string | null;
  /** A fresh temporary directory for building `name`. */
  tempFor(name: string): string;
  /** Marks `temp` complete and renames it into place; returns the entry's directory (ours or a winner's). */
  publish(name: string, temp: string, bytes: number): string;
  /** Evicts least recently used entries until the cache fits its bound; `keep` is never evicted. */
  evict(keep: string): void;
}

export function createTemplateCache(opts: { dir: string; maxBytes: number; graceMs: number; now?: () => number }): TemplateCache {
  const now = opts.now ?? Date.now;
  const entryDir = (name: string) => join(opts.dir, name);

  return {
    lookup(name) {
      const dir = entryDir(name);
      const marker = join(dir, COMPLETE_MARKER);
      if (existsSync(marker)) {
        const t = new Date(now());
        try {
          utimesSync(marker, t, t);
        } catch {
          return null; // evicted between the check and the touch
        }
        return dir;
      }
      // The directory first, then the marker: an entry that exists complete keeps its marker, so only a
      // leftover can pass both checks (a publish landing between them is seen as complete).
      if (existsSync(dir) && !existsSync(marker)) discard(opts.dir, dir);
      return null;
    },

    tempFor(name) {
      mkdirSync(opts.dir, { recursive: true });
      const temp = join(opts.dir, `${name}.tmp-${randomBytes(6).toString('hex')}`);
      mkdirSync(temp);
      return temp;
    },

    publish(name, temp, bytes) {
      const dir = entryDir(name);
      writeFileSync(join(temp, COMPLETE_MARKER), JSON.stringify({ bytes, fetched_at: new Date(now()).toISOString() }));
      try {
        renameSync(temp, dir);
      } catch (err) {
        rmSync(temp, { recursive: true, force: true });
        // Lost the race to a concurrent fetch of the same commit: its entry is as good as ours.
        if (!existsSync(join(dir, COMPLETE_MARKER))) throw err;
      }
      return dir;
    },

    evict(keep) {
      if (!existsSync(opts.dir)) return;
      const entries: Array<{ name: string; bytes: number; usedAt: number }> = [];
      for (const name of readdirSync(opts.dir)) {
        const path = entryDir(name);
        if (TEMP_NAME.test(name)) {
          const st = statSync(path, { throwIfNoEntry: false });
          if (st && now() - st.mtimeMs > STALE_TEMP_MS) rmSync(path, { recursive: true, force: true });
          continue;
        }
        if (!ENTRY_NAME.test(name)) continue;
        const marker = join(path, COMPLETE_MARKER);
        const st = statSync(marker, { throwIfNoEntry: false });
        if (!st) continue;
        let bytes: number;
        try {
          bytes = Number((JSON.parse(readFileSync(marker, 'utf8')) as { bytes?: unknown }).bytes);
        } catch {
          bytes = NaN;
        }
        entries.push({ name, bytes: Number.isFinite(bytes) ? bytes : treeBytes(path), usedAt: st.mtimeMs });
      }
      let total = entries.reduce((sum, e) => sum + e.bytes, 0);
      for (const e of entries.sort((a, b) => a.usedAt - b.usedAt)) {
        if (total <= opts.maxBytes) break;
        if (e.name === keep || now() - e.usedAt < opts.graceMs) continue;
        discard(opts.dir, entryDir(e.name));
        total -= e.bytes;
      }
    },
  };
}
