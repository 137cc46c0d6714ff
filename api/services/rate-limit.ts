// A fixed-window request counter per key, in process memory: enough to stop one caller from guessing
// credentials at full speed on an unauthenticated-until-checked route. Bounded: at most `maxKeys`
// keys are tracked per window (past that every new key is refused until the window rolls, which only
// a flood of distinct keys can cause).

export interface RateLimiter {
  /** True when this request is within the limit for every key given. */
  allow(...keys: string[]): boolean;
}

export function fixedWindowLimiter(opts: { limit: number; windowMs: number; maxKeys?: number; now?: () => number }): RateLimiter {
  const now = opts.now ?? Date.now;
  const maxKeys = opts.maxKeys ?? 10_000;
  let windowStart = now();
  let counts = new Map<string, number>();
  return {
    allow(...keys) {
      const t = now();
      if (t - windowStart >= opts.windowMs) {
        windowStart = t;
        counts = new Map();
      }
      let ok = true;
      for (const key of keys) {
        const seen = counts.get(key);
        if (seen === undefined && counts.size >= maxKeys) {
          ok = false;
          continue;
        }
        const next = (seen ?? 0) + 1;
        counts.set(key, next);
        if (next > opts.limit) ok = false;
      }
      return ok;
    },
  };
}
