// Identical concurrent calls share one in-flight promise. No caching beyond that: once the call
// settles, the next caller starts a fresh one, so nothing served is staler than the call itself.
export function singleFlight<A extends unknown[], R>(keyOf: (...args: A) => string, fn: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  const inFlight = new Map<string, Promise<R>>();
  return (...args: A) => {
    const key = keyOf(...args);
    const running = inFlight.get(key);
    if (running) return running;
    const call = fn(...args).finally(() => inFlight.delete(key));
    inFlight.set(key, call);
    return call;
  };
}
