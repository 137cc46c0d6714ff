// B8's load generator, run as its own process pinned to one CPU by heartbeat-capacity.ts: autocannon
// sending heartbeats of many agents, each request with the next agent's id and token. Reads the agents
// from the file named in argv[3], prints autocannon's JSON summary on stdout.
import { readFileSync } from 'node:fs';
import autocannon from 'autocannon';

type Agent = { id: string; token: string };

async function main(): Promise<void> {
  const [url, agentsFile, connections, seconds] = process.argv.slice(2);
  const agents = JSON.parse(readFileSync(agentsFile, 'utf8')) as Agent[];
  let next = 0;
  const result = await autocannon({
    url,
    connections: Number(connections),
    duration: Number(seconds),
    requests: [
      {
        method: 'POST',
        path: '/registry/heartbeat',
        setupRequest: (req) => {
          const agent = agents[next++ % agents.length];
          return {
            ...req,
            headers: { ...req.headers, authorization: `Bearer ${agent.token}`, 'content-type': 'application/json' },
            body: JSON.stringify({ workspace_id: agent.id, current_task: '', active_tasks: 1, uptime_seconds: 60 }),
          };
        },
      },
    ],
  });
  process.stdout.write(JSON.stringify({ p50: result.latency.p50, p99: result.latency.p99, requests: result.requests.total, rps: result.requests.average, errors: result.errors + result.timeouts + result.non2xx }));
}

main().catch((err: Error) => {
  console.error(err.message);
  process.exit(1);
});
