// The image's HEALTHCHECK (Dockerfile), one command for both services. Which one the container runs is
// read from PID 1's command line (`node dist/worker/main.js`, or docker-init/tini followed by it), or
// given as the first argument (`api` / `worker`). Exit 0 healthy, 1 not, with one line saying why.
//   api:    GET /healthz on API_HOST:API_PORT (loopback when it listens on every address) answers 200
//           within 3 s. Liveness only: /readyz is for load balancers, a dependency outage must not get
//           every API container restarted.
//   worker: WORKER_HEALTH_FILE was refreshed within the last 60 s (worker/health-file.ts).
import { readFileSync, statSync } from 'node:fs';
import { HEALTH_FILE_STALE_MS } from '../worker/health-file';

function service(): 'api' | 'worker' {
  const arg = process.argv[2];
  if (arg === 'api' || arg === 'worker') return arg;
  let cmdline = '';
  try {
    cmdline = readFileSync('/proc/1/cmdline', 'utf8').replace(/\0/g, ' ');
  } catch {
    /* no /proc: the API, the image's default command */
  }
  return /\bworker\/main\.js\b/.test(cmdline) ? 'worker' : 'api';
}

async function checkApi(): Promise<string> {
  const host = process.env.API_HOST && !['0.0.0.0', '::', ''].includes(process.env.API_HOST) ? process.env.API_HOST : '127.0.0.1';
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${process.env.API_PORT || '8080'}/healthz`;
  const res = await fetch(url, { signal: AbortSignal.timeout(3000) });
  if (res.status !== 200) throw new Error(`${url} answered ${res.status}`);
  return `${url} 200`;
}

function checkWorker(): string {
  const file = process.env.WORKER_HEALTH_FILE;
  if (!file) throw new Error('WORKER_HEALTH_FILE is not set: the worker writes no health file');
  const age = Date.now() - statSync(file).mtimeMs;
  if (age > HEALTH_FILE_STALE_MS) throw new Error(`${file} is ${Math.round(age / 1000)} s old (the worker is not polling)`);
  return `${file} refreshed ${Math.round(age / 1000)} s ago`;
}

const which = service();
(which === 'api' ? checkApi() : Promise.resolve().then(checkWorker)).then(
  (ok) => {
    console.log(`healthy (${which}): ${ok}`);
    process.exit(0);
  },
  (err: Error) => {
    console.log(`unhealthy (${which}): ${err.message}`);
    process.exit(1);
  },
);
