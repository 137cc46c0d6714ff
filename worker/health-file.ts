// Liveness of a worker, which serves no HTTP: while it polls its task queue it refreshes a file's
// mtime every HEALTH_FILE_INTERVAL_MS; scripts/healthcheck.ts (the image's HEALTHCHECK) calls the worker
// unhealthy when the file is older than HEALTH_FILE_STALE_MS (a stuck event loop, a worker that stopped).
import { closeSync, openSync, rmSync, utimesSync } from 'node:fs';

export const HEALTH_FILE_INTERVAL_MS = 10_000;
export const HEALTH_FILE_STALE_MS = 60_000;

function touch(file: string): void {
  const now = new Date();
  try {
    utimesSync(file, now, now);
  } catch {
    closeSync(openSync(file, 'a'));
  }
}

/** Starts refreshing `file` while `running()`; returns a stop that removes it. An empty path does nothing. */
export function startHealthFile(file: string, running: () => boolean, onError: (err: Error) => void): () => void {
  if (!file) return () => undefined;
  const beat = () => {
    try {
      if (running()) touch(file);
    } catch (err) {
      onError(err as Error);
    }
  };
  beat();
  const timer = setInterval(beat, HEALTH_FILE_INTERVAL_MS);
  timer.unref();
  return () => {
    clearInterval(timer);
    rmSync(file, { force: true });
  };
}
