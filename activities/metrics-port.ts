// What activities may report besides their outcome (ActivityDeps.metrics). Defined here, beside the
// activities that call it; the worker's Prometheus metrics (worker/metrics.ts) implement it.
export interface SweepFindingLike {
  kind: string;
  action: string;
}

export interface ActivityMetrics {
  sweepFindings(sweep: 'orphan' | 'liveness', findings: readonly SweepFindingLike[]): void;
}
