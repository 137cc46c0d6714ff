// `npm run bench [-- --only B2,B3] [-- --rounds N]`: measures the platform against baselines in the
// same run (these 2-core machines are noisy, so ratios are the figures that mean something). Starts the
// same real servers as the tests, runs the API and the worker as their own processes, prints a progress
// line per step and each figure as soon as it is measured, then the whole table, and writes
// bench/results/<date>.json. Not part of the test suite. Env knobs: BENCH_ONLY, BENCH_ROUNDS.
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Pool } from 'pg';
import globalSetup from '../test/harness/global-setup';
import globalTeardown from '../test/harness/global-teardown';
import { RUN_DIR, testServers } from '../test/harness/servers';
import { waitFor } from '../test/support/wait-for';
import type { BenchContext, BenchRow, BenchStage } from './context';
import { b6Scale } from './b6-scale';
import { b7Soak } from './b7-soak';
import { heartbeatCapacity } from './heartbeat-capacity';
import { importDelete } from './import-delete';
import { ADMIN_TOKEN, processEnv, ROOT, startProcess } from './processes';
import { provision } from './provision';
import { restartLatency } from './restart-latency';

const STAGES: BenchStage[] = [importDelete, provision, restartLatency, b6Scale, heartbeatCapacity, b7Soak];
/** Figures measured inside another stage's run, so --only accepts them too. */
const ALIASES: Record<string, string> = { B4: 'B1', B5: 'B1' };

function options(): { only: Set<string>; rounds: number } {
  const { values } = parseArgs({ options: { only: { type: 'string' }, rounds: { type: 'string' } } });
  const only = (values.only ?? process.env.BENCH_ONLY ?? STAGES.map((s) => s.id).join(','))
    .toUpperCase()
    .split(',')
    .map((id) => ALIASES[id.trim()] ?? id.trim());
  const unknown = only.filter((id) => !STAGES.some((s) => s.id === id));
  if (unknown.length) throw new Error(`--only: no stage ${unknown.join(', ')} (stages: ${STAGES.map((s) => s.id).join(', ')}; B4 and B5 run with B1)`);
  const rounds = Number(values.rounds ?? process.env.BENCH_ROUNDS ?? 5);
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 50) throw new Error('--rounds: a whole number from 1 to 50');
  return { only: new Set(only), rounds };
}

const row = (r: BenchRow) =>
  `| ${r.id} | ${r.what} | ${r.value} ${r.unit} | ${r.baseline ?? ''} | ${r.ratio ? r.ratio.toFixed(2) + 'x' : ''} | ${r.target ?? ''} | ${r.ok === undefined ? '' : r.ok ? 'yes' : 'NO'} |`;

async function main(): Promise<void> {
  const { only, rounds } = options();
  const stages = STAGES.filter((s) => only.has(s.id));
  const machine = { cpus: cpus().length, model: cpus()[0]?.model ?? 'unknown', memoryGb: Math.round(totalmem() / 2 ** 30), node: process.version };
  const t0 = performance.now();
  const elapsed = () => {
    const s = Math.round((performance.now() - t0) / 1000);
    return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
  };
  const progress = (message: string) => console.log(`[${elapsed()}] ${message}`);
  console.log(`bench on ${machine.cpus} cores (${machine.model}), ${machine.memoryGb} GB, Node ${machine.node}: ${stages.map((s) => s.id).join(', ')}, ${rounds} rounds`);
  progress('starting the servers (Temporal, Postgres database, Podman, moto) and the API and worker processes');
  await globalSetup();
  const servers = testServers();
  const apiPort = 18080 + Math.floor(Math.random() * 1000);
  const env = processEnv(servers, apiPort);
  const pool = new Pool({ connectionString: servers.databaseUrl, max: 4 });
  const apiProc = startProcess('api', 'api/main.ts', env);
  const workerProc = startProcess('worker', 'worker/main.ts', env);
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  const rows: BenchRow[] = [];
  const ctx: BenchContext = {
    servers,
    pool,
    apiUrl,
    adminToken: ADMIN_TOKEN,
    apiProc,
    workerProc,
    rounds,
    async api<T>(method: string, path: string, body?: unknown) {
      const res = await fetch(`${apiUrl}${path}`, {
        method,
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: (text ? JSON.parse(text) : null) as T };
    },
    record(r) {
      rows.push(r);
      console.log(`[${elapsed()}] figure ${row(r)}`);
    },
    progress,
  };
  let failure: Error | null = null;
  try {
    await waitFor('API up', async () => (await fetch(`${apiUrl}/readyz`)).ok, 60_000, 200);
    // The SDK's runtime logs the worker's state whatever LOG_LEVEL says (the bench runs at warn).
    await waitFor('worker polling', async () => /RUNNING/.test(readFileSync(join(RUN_DIR, 'bench-worker.log'), 'utf8')) || null, 60_000, 200);
    for (const stage of stages) {
      progress(`${stage.id}: ${stage.title}`);
      await stage.run(ctx);
    }
  } catch (err) {
    failure = err as Error;
  } finally {
    progress('stopping the API, the worker and the servers');
    apiProc.kill('SIGTERM');
    workerProc.kill('SIGTERM');
    await pool.end();
    await globalTeardown();
  }
  console.log(`\nbench on ${machine.cpus} cores (${machine.model}), ${machine.memoryGb} GB, Node ${machine.node}, ${elapsed()} in all\n`);
  console.log('| id | measure | value | baseline | ratio | target | met |');
  console.log('| --- | --- | --- | --- | --- | --- | --- |');
  for (const r of rows) console.log(row(r));
  mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
  const file = join(ROOT, 'bench', 'results', `${new Date().toISOString().slice(0, 10)}-${randomUUID().slice(0, 4)}.json`);
  writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), machine, rounds, stages: stages.map((s) => s.id), rows, ...(failure ? { failure: failure.message } : {}) }, null, 2));
  console.log(`\nwritten: ${file}`);
  if (failure) throw failure;
}

main().catch((err: Error) => {
  console.error(`bench failed: ${err.message}`);
  process.exit(1);
});
