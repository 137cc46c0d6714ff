// Concurrent engine listings, shared without going stale. A burst of 20 provisions (or a delete batch of
// 50) asked Podman for 20 (or 100) label-filtered listings at once, and each walks every container on
// the engine (50 concurrent ones of 50 containers took Podman 0.24-0.6 s here, one 40-60 ms, on the two
// cores the burst's creates and starts need). Callers now share listings, with one
// rule that keeps each answer as fresh as its own call would have been: a caller only ever receives a
// listing that STARTED after it called. One arriving while a listing runs waits for the next one,
// which starts when the running one ends and serves everyone who queued meanwhile.

export function freshListing<T>(list: () => Promise<T>): () => Promise<T> {
  let running: Promise<T> | null = null;
  let queued: Promise<T> | null = null;

  const start = (): Promise<T> => {
    const p = list();
    running = p;
    const clear = () => {
      if (running === p) running = null;
    };
    p.then(clear, clear);
    return p;
  };

  return () => {
    if (!running) return start();
    if (!queued) {
      // Whether the running listing succeeds or fails, the queued callers get a listing of their own.
      const startQueued = () => {
        queued = null;
        return start();
      };
      queued = running.then(startQueued, startQueued);
    }
    return queued;
  };
}
