// B8 (sizing, where the issue is silent): how many heartbeats one API process answers per second, and
// so how many agents it serves at the default 30 s interval. 200 registered external agents; the load
// generator (heartbeat-load.ts) runs pinned to CPU 1, the API to CPU 0, with Temporal idle and
// Postgres on both cores. Every request is a different agent's token, in turn.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RUN_DIR } from '../test/harness/servers';
import type { BenchStage } from './context';
import { describeCpu, sampleCpu } from './cpu-usage';
import { RouteRecorder } from './open-loop';
import { pinProcess, ROOT } from './processes';
import { createAgents } from './soak-fleet';

const AGENTS = 200;
const CONNECTIONS = 50;
const SECONDS = 15;
const HEARTBEAT_INTERVAL_SECONDS = 30;

type Summary = { p50: number; p99: number; requests: number; rps: number; errors: number };

function heartbeatLoad(url: string, agentsFile: string): Promise<Summary> {
  return new Promise((resolve, reject) => {
    const child = spawn('taskset', ['-c', '1', process.execPath, '--import', 'tsx', join(ROOT, 'bench', 'heartbeat-load.ts'), url, agentsFile, String(CONNECTIONS), String(SECONDS)], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out) as Summary) : reject(new Error(`heartbeat load exited ${code}: ${err.slice(-300)}`))));
  });
}

export const heartbeatCapacity: BenchStage = {
  id: 'B8',
  title: `heartbeat capacity of one API process (${AGENTS} agents, ${CONNECTIONS} connections)`,
  async run(ctx) {
    ctx.progress(`B8: creating and registering ${AGENTS} external agents`);
    const agentsFile = join(RUN_DIR, `bench-agents-${ctx.servers.runId}.json`);
    const agents = await createAgents(new RouteRecorder(ctx.apiUrl, ctx.adminToken, performance.now()), AGENTS, 'Bench agent');
    writeFileSync(agentsFile, JSON.stringify(agents), { mode: 0o600 });
    const apiCpus = pinProcess(ctx.apiProc.pid as number, '0');
    try {
      ctx.progress(`B8: heartbeats for ${SECONDS} s`);
      const c0 = sampleCpu();
      const r = await heartbeatLoad(ctx.apiUrl, agentsFile);
      const c1 = sampleCpu();
      ctx.progress(`B8: CPU during the load: ${describeCpu(c0, c1)}`);
      ctx.record({ id: 'B8', what: `heartbeats answered per second (${AGENTS} agents in turn, ${CONNECTIONS} connections, API on CPU 0, load on CPU 1)`, value: Math.round(r.rps), unit: `/s (p50 ${r.p50} ms, p99 ${r.p99} ms, ${r.errors} errors)`, target: '0 errors', ok: r.errors === 0 });
      ctx.record({ id: 'B8', what: `agents one API process serves at the ${HEARTBEAT_INTERVAL_SECONDS} s heartbeat interval, at that rate`, value: Math.round(r.rps * HEARTBEAT_INTERVAL_SECONDS), unit: 'agents' });
    } finally {
      pinProcess(ctx.apiProc.pid as number, apiCpus);
    }
  },
};
