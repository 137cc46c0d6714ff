// Open-loop load for the soak (B7): requests fire on a fixed schedule whatever the answers are, and
// each latency is measured from the moment the request was DUE, not from when it was sent. A closed
// loop (send, wait, send) slows down with the server and so hides its stalls from the percentiles
// (coordinated omission); here a stall shows as the latency of every request that was due during it.
import { percentile } from './context';

/** One route's answers: when each was due (ms since the soak's clock started) and how long it took. */
interface RouteSamples {
  dueAt: number[];
  ms: number[];
  count: number;
  errors: number;
  /** The first few errors, verbatim, so a report can say what went wrong. */
  examples: string[];
}

export interface WindowFigures {
  count: number;
  p50: number;
  p99: number;
  max: number;
}

export interface CallOptions {
  body?: unknown;
  /** Bearer token; the admin token when absent. */
  token?: string;
  timeoutMs?: number;
  /** performance.now() when the request was due; now when absent. */
  dueAt?: number;
}

/** Calls the API and keeps every answer's latency and outcome per route label. */
export class RouteRecorder {
  private readonly routes = new Map<string, RouteSamples>();
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(
    private readonly apiUrl: string,
    private readonly adminToken: string,
    /** performance.now() of the soak's time zero: dueAt is kept relative to it. */
    private readonly clockZero: number,
  ) {}

  /**
   * One request under `route`; any 2xx counts as success, anything else (status, network error,
   * timeout) as an error. Resolves to the parsed body, or null on error: callers never throw.
   */
  call<T>(route: string, method: string, path: string, options: CallOptions = {}): Promise<T | null> {
    const dueAt = options.dueAt ?? performance.now();
    const done = this.send<T>(route, method, path, options, dueAt);
    this.inFlight.add(done);
    void done.finally(() => this.inFlight.delete(done));
    return done;
  }

  private async send<T>(route: string, method: string, path: string, options: CallOptions, dueAt: number): Promise<T | null> {
    const headers: Record<string, string> = { authorization: `Bearer ${options.token ?? this.adminToken}` };
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    let failure: string | null = null;
    let parsed: T | null = null;
    try {
      const res = await fetch(`${this.apiUrl}${path}`, {
        method,
        headers,
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
        signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
      });
      const text = await res.text();
      if (res.status < 200 || res.status > 299) failure = `${res.status} ${text.slice(0, 200)}`;
      else parsed = (text ? JSON.parse(text) : null) as T;
    } catch (err) {
      failure = `${(err as Error).name}: ${(err as Error).message}`;
    }
    const ms = performance.now() - dueAt;
    const r = this.samples(route);
    r.count++;
    if (failure) {
      r.errors++;
      if (r.examples.length < 3) r.examples.push(`${method} ${path}: ${failure}`);
      return null;
    }
    r.dueAt.push(dueAt - this.clockZero);
    r.ms.push(ms);
    return parsed;
  }

  /** Counts an error found after a 2xx answer (e.g. an import that was accepted but then failed). */
  fail(route: string, detail: string): void {
    const r = this.samples(route);
    r.errors++;
    if (r.examples.length < 3) r.examples.push(detail);
  }

  private samples(route: string): RouteSamples {
    let r = this.routes.get(route);
    if (!r) {
      r = { dueAt: [], ms: [], count: 0, errors: 0, examples: [] };
      this.routes.set(route, r);
    }
    return r;
  }

  /** Resolves once every request sent so far has its answer (or its error). */
  async drain(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  routeNames(): string[] {
    return [...this.routes.keys()];
  }

  totals(route?: string): { count: number; errors: number; examples: string[] } {
    const list = route ? [this.samples(route)] : [...this.routes.values()];
    return {
      count: list.reduce((n, r) => n + r.count, 0),
      errors: list.reduce((n, r) => n + r.errors, 0),
      examples: list.flatMap((r) => r.examples),
    };
  }

  /** p50/p99 of the successful answers that were due in [fromMs, toMs) of the soak's clock. */
  window(route: string, fromMs: number, toMs: number): WindowFigures {
    const r = this.samples(route);
    const xs = r.ms.filter((_, i) => r.dueAt[i] >= fromMs && r.dueAt[i] < toMs);
    return xs.length === 0 ? { count: 0, p50: NaN, p99: NaN, max: NaN } : { count: xs.length, p50: percentile(xs, 50), p99: percentile(xs, 99), max: Math.max(...xs) };
  }
}

/**
 * Calls `fire(k, dueAt)` for k = 0, 1, 2, ... at `startAt + offsetMs + k * intervalMs` (performance.now()
 * times) until `stopAt`. Ticks that are late because the event loop was busy still fire, each with the
 * time it was due, so a stall of this process is charged to the latencies rather than hidden.
 */
export function fixedRate(intervalMs: number, startAt: number, stopAt: number, fire: (k: number, dueAt: number) => void, offsetMs = 0): Promise<void> {
  return new Promise((resolve) => {
    let k = 0;
    const tick = (): void => {
      const now = performance.now();
      for (let due = startAt + offsetMs + k * intervalMs; due <= now && due < stopAt; due = startAt + offsetMs + k * intervalMs) {
        fire(k, due);
        k++;
      }
      const next = startAt + offsetMs + k * intervalMs;
      if (next >= stopAt) {
        resolve();
        return;
      }
      setTimeout(tick, Math.max(0, next - performance.now()));
    };
    tick();
  });
}
