// B3: the restart answer under 100 concurrent clients, against a bare Fastify server doing the same
// irreducible work (baseline-restart-server.ts) under the same load in the same run. The load
// generator (autocannon) runs as its own process pinned to CPU 1 and the server under test to CPU 0,
// so the generator does not take the server's core; Temporal, Postgres and the worker stay on both.
// Rounds alternate baseline and platform; the figure is the median of the rounds' ratios.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { waitFor } from '../test/support/wait-for';
import { percentile, type BenchContext, type BenchStage } from './context';
import { pinProcess, processEnv, ROOT, startProcess } from './processes';
import { platformProvisions } from './provision';

const CONNECTIONS = 100;
const SECONDS = 10;
const SERVER_CPU = '0';
const LOAD_CPU = '1';

interface Load {
  p50: number;
  p99: number;
  requests: number;
  errors: number;
}

/** One autocannon run in its own process, pinned to LOAD_CPU; its JSON summary. */
function load(url: string, method: 'GET' | 'POST', token: string, connections = CONNECTIONS): Promise<Load> {
  const args = ['-c', LOAD_CPU, process.execPath, join(ROOT, 'node_modules', 'autocannon', 'autocannon.js'), '-j', '-c', String(connections), '-d', String(SECONDS), '-m', method, '-H', `authorization=Bearer ${token}`];
  if (method === 'POST') args.push('-H', 'content-type=application/json', '-b', '{}');
  args.push(url);
  return new Promise((resolve, reject) => {
    const child = spawn('taskset', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`autocannon exited ${code}: ${err.slice(-300)}`));
      const r = JSON.parse(out) as { latency: { p50: number; p99: number }; requests: { total: number }; errors: number; timeouts: number; non2xx: number };
      resolve({ p50: r.latency.p50, p99: r.latency.p99, requests: r.requests.total, errors: r.errors + r.timeouts + r.non2xx });
    });
  });
}

async function startBaseline(ctx: BenchContext, port: number, round: number): Promise<ChildProcess> {
  const env = { ...processEnv(ctx.servers, port), BASELINE_PORT: String(port), BASELINE_ROUND: String(round) };
  const proc = startProcess(`baseline-${round}`, 'bench/baseline-restart-server.ts', env);
  await waitFor('baseline server up', async () => (await fetch(`http://127.0.0.1:${port}/workspaces/00000000-0000-0000-0000-000000000000`)).status === 404, 60_000, 200);
  return proc;
}

export const restartLatency: BenchStage = {
  id: 'B3',
  title: `restart answer and row read, ${CONNECTIONS} clients, against a bare Fastify baseline`,
  async run(ctx) {
    ctx.progress('B3: provisioning the Docker workspace to restart');
    const [id] = (await platformProvisions(ctx, 1, 'Bench B3')).ids;
    const apiCpus = pinProcess(ctx.apiProc.pid as number, SERVER_CPU);
    const rounds: Array<{ restart: Load; restartBase: Load; get: Load; getBase: Load; single: Load; singleBase: Load }> = [];
    const basePort = 17000 + Math.floor(Math.random() * 1000);
    try {
      for (let r = 0; r < ctx.rounds; r++) {
        const baseline = await startBaseline(ctx, basePort + r, r);
        try {
          pinProcess(baseline.pid as number, SERVER_CPU);
          const baseUrl = `http://127.0.0.1:${basePort + r}`;
          ctx.progress(`B3: round ${r + 1} of ${ctx.rounds}: POST restart, baseline then platform (${SECONDS} s each)`);
          const restartBase = await load(`${baseUrl}/workspaces/${id}/restart`, 'POST', ctx.adminToken);
          const restart = await load(`${ctx.apiUrl}/workspaces/${id}/restart`, 'POST', ctx.adminToken);
          ctx.progress(`B3: round ${r + 1} of ${ctx.rounds}: GET /workspaces/:id, baseline then platform`);
          const getBase = await load(`${baseUrl}/workspaces/${id}`, 'GET', ctx.adminToken);
          const get = await load(`${ctx.apiUrl}/workspaces/${id}`, 'GET', ctx.adminToken);
          // One client: every request pays its own signal (the API joins concurrent requests of one
          // workspace into one signal-with-start, which the baseline does not; here there are none).
          ctx.progress(`B3: round ${r + 1} of ${ctx.rounds}: POST restart from 1 client, baseline then platform`);
          const singleBase = await load(`${baseUrl}/workspaces/${id}/restart`, 'POST', ctx.adminToken, 1);
          const single = await load(`${ctx.apiUrl}/workspaces/${id}/restart`, 'POST', ctx.adminToken, 1);
          rounds.push({ restart, restartBase, get, getBase, single, singleBase });
          ctx.progress(`B3: round ${r + 1}: restart p99 ${restart.p99} ms vs ${restartBase.p99} ms, p50 ${restart.p50} vs ${restartBase.p50}; GET p99 ${get.p99} vs ${getBase.p99}`);
        } finally {
          baseline.kill('SIGTERM');
        }
      }
    } finally {
      pinProcess(ctx.apiProc.pid as number, apiCpus);
    }
    const median = (xs: number[]) => percentile(xs, 50);
    const ratio = (pick: (x: (typeof rounds)[number]) => [number, number]) => median(rounds.map((x) => pick(x)[0] / Math.max(1, pick(x)[1])));
    const med = (pick: (x: (typeof rounds)[number]) => number) => median(rounds.map(pick));
    const n = rounds.length;
    const p99 = ratio((x) => [x.restart.p99, x.restartBase.p99]);
    const p50 = ratio((x) => [x.restart.p50, x.restartBase.p50]);
    const restartErrors = rounds.reduce((s, x) => s + x.restart.errors + x.single.errors, 0);
    const requests = rounds.reduce((s, x) => s + x.restart.requests + x.single.requests, 0);
    ctx.record({ id: 'B3', what: `POST restart, ${CONNECTIONS} clients: p99 (median of ${n} rounds; load on CPU ${LOAD_CPU}, server on CPU ${SERVER_CPU})`, value: med((x) => x.restart.p99), unit: 'ms', baseline: med((x) => x.restartBase.p99), ratio: p99, target: '≤ 2x', ok: p99 <= 2 });
    ctx.record({ id: 'B3', what: `POST restart, ${CONNECTIONS} clients: p50 (median of ${n} rounds)`, value: med((x) => x.restart.p50), unit: 'ms', baseline: med((x) => x.restartBase.p50), ratio: p50, target: '≤ 1.5x', ok: p50 <= 1.5 });
    ctx.record({ id: 'B3', what: `POST restart: p99 ratio of each round: ${rounds.map((x) => (x.restart.p99 / Math.max(1, x.restartBase.p99)).toFixed(2) + 'x').join(', ')}`, value: n, unit: 'rounds' });
    ctx.record({ id: 'B3', what: 'POST restart: requests answered, errors (non-2xx, timeouts)', value: requests, unit: `requests, ${restartErrors} errors`, target: '0 errors', ok: restartErrors === 0 });
    const s99 = ratio((x) => [x.single.p99, x.singleBase.p99]);
    const s50 = ratio((x) => [x.single.p50, x.singleBase.p50]);
    ctx.record({ id: 'B3', what: `POST restart, 1 client (nothing to coalesce): p99 (median of ${n} rounds)`, value: med((x) => x.single.p99), unit: 'ms', baseline: med((x) => x.singleBase.p99), ratio: s99 });
    ctx.record({ id: 'B3', what: `POST restart, 1 client: p50 (median of ${n} rounds)`, value: med((x) => x.single.p50), unit: 'ms', baseline: med((x) => x.singleBase.p50), ratio: s50 });
    const getRatio = ratio((x) => [x.get.p99, x.getBase.p99]);
    const getErrors = rounds.reduce((s, x) => s + x.get.errors, 0);
    ctx.record({ id: 'B3', what: `GET /workspaces/:id, ${CONNECTIONS} clients: p99 (median of ${n} rounds)`, value: med((x) => x.get.p99), unit: `ms (p50 ${med((x) => x.get.p50)} vs ${med((x) => x.getBase.p50)}, ${getErrors} errors)`, baseline: med((x) => x.getBase.p99), ratio: getRatio, target: '0 errors', ok: getErrors === 0 });
  },
};
