// CPU time per process group over a measured interval, read from /proc (Linux). On a 2-core machine a
// burst saturates both cores, so latency follows total CPU: this shows where that CPU went, the
// platform's own processes beside the container engine's.
import { readdirSync, readFileSync } from 'node:fs';

const TICK_MS = 10; // USER_HZ is 100 on Linux

/** Which group a process belongs to, by its command; null for processes not worth a column. */
function groupOf(pid: string, comm: string, ownPid: number): string | null {
  if (comm === 'node') {
    if (Number(pid) === ownPid) return 'bench';
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    if (cmd.includes('worker/main')) return 'worker';
    if (cmd.includes('api/main')) return 'api';
    return null;
  }
  if (comm === 'temporal') return 'temporal';
  if (comm === 'postgres') return 'postgres';
  // The engine: podman and conmon, with their reaped children (the OCI runtime), and the agents' shells.
  if (comm === 'podman' || comm === 'conmon' || comm === 'sh') return 'engine';
  return null;
}

export type CpuSample = { perGroup: Record<string, number>; busyMs: number };

export function sampleCpu(): CpuSample {
  const perGroup: Record<string, number> = {};
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const group = groupOf(pid, comm, process.pid);
      if (!group) continue;
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // utime, stime, and for the engine also cutime, cstime (runc/crun run as reaped children).
      const ticks = Number(f[11]) + Number(f[12]) + (group === 'engine' ? Number(f[13]) + Number(f[14]) : 0);
      perGroup[group] = (perGroup[group] ?? 0) + ticks * TICK_MS;
    } catch {
      // the process exited between readdir and read
    }
  }
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = cpu[3] + cpu[4];
  return { perGroup, busyMs: (cpu.reduce((a, b) => a + b, 0) - idle) * TICK_MS };
}

/** "machine 6.8 s: engine 3.1, worker 1.2, ..." for the interval between two samples. */
export function describeCpu(from: CpuSample, to: CpuSample): string {
  const s = (ms: number) => (ms / 1000).toFixed(1);
  const groups = Object.entries(to.perGroup)
    .map(([g, ms]) => [g, ms - (from.perGroup[g] ?? 0)] as const)
    .filter(([, ms]) => ms > 0)
    .sort((a, b) => b[1] - a[1])
    .map(([g, ms]) => `${g} ${s(ms)}`);
  return `machine ${s(to.busyMs - from.busyMs)} s busy: ${groups.join(', ')}`;
}
