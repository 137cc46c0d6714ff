// What every bench stage receives: the servers, the API and worker processes it measures, and the two
// ways it reports (a progress line while it runs, a figure as soon as it is measured).
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Pool } from 'pg';
import type { TestServers } from '../test/harness/servers';

export interface BenchRow {
  /** Figure id, e.g. 'B6'. */
  id: string;
  what: string;
  value: number;
  unit: string;
  baseline?: number;
  ratio?: number;
  target?: string;
  ok?: boolean;
}

export interface BenchContext {
  servers: TestServers;
  /** A small pool (max 4) for baselines and direct reads. */
  pool: Pool;
  apiUrl: string;
  adminToken: string;
  apiProc: ChildProcess;
  workerProc: ChildProcess;
  /** --rounds N (BENCH_ROUNDS): how many rounds a stage that repeats itself runs. */
  rounds: number;
  /** Calls the API as the admin; the body is parsed JSON (null when empty). */
  api<T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }>;
  /** Prints (and keeps) one figure at once. */
  record(row: BenchRow): void;
  /** Prints one progress line: what runs now and how far it is. */
  progress(message: string): void;
}

export interface BenchStage {
  id: string;
  title: string;
  run(ctx: BenchContext): Promise<void>;
}

export const percentile = (xs: number[], p: number): number =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];

/** Peak resident set size (VmHWM) of a process, in MB. */
export function peakRssMb(pid: number): number {
  return statusMb(pid, 'VmHWM');
}

/** Current resident set size (VmRSS) of a process, in MB. */
export function rssMb(pid: number): number {
  return statusMb(pid, 'VmRSS');
}

function statusMb(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith(`${field}:`));
  return Math.round(Number(line?.replace(/\D+/g, '') ?? 0) / 1024);
}
