// B3's baseline: a bare Fastify server doing only the irreducible work of a restart answer (one row
// read and one signal-with-start through @temporalio/client), with the same pool size and logger level
// as the API. Its workflow runs on a task queue nobody polls: the request's cost ends at the server's
// acknowledgement, as the platform's answer does. Run as its own process by restart-latency.ts.
import { Client, Connection, WorkflowIdReusePolicy } from '@temporalio/client';
import Fastify from 'fastify';
import { Pool } from 'pg';

async function main(): Promise<void> {
  const port = Number(process.env.BASELINE_PORT);
  const round = process.env.BASELINE_ROUND ?? '0';
  const pool = new Pool({ connectionString: process.env.DATABASE_URL, max: 20 });
  const connection = await Connection.connect({ address: process.env.TEMPORAL_ADDRESS });
  const client = new Client({ connection, namespace: process.env.TEMPORAL_NAMESPACE ?? 'default' });
  const app = Fastify({ logger: { level: process.env.LOG_LEVEL ?? 'warn' } });
  const readRow = async (id: string) =>
    (await pool.query<{ id: string; status: string; compute: string }>('SELECT id, status, compute FROM workspaces WHERE id = $1', [id])).rows[0];

  app.get<{ Params: { id: string } }>('/workspaces/:id', async (request, reply) => {
    const row = await readRow(request.params.id);
    return row ? reply.send(row) : reply.status(404).send({ error: 'not found' });
  });
  app.post<{ Params: { id: string } }>('/workspaces/:id/restart', async (request, reply) => {
    const row = await readRow(request.params.id);
    if (!row) return reply.status(404).send({ error: 'not found' });
    // One workflow per workspace and round, as the platform has one restart workflow per workspace
    // (a fresh id per round keeps each history below Temporal's event limit).
    const handle = await client.workflow.signalWithStart('benchBaselineRestart', {
      taskQueue: 'bench-baseline-unpolled',
      workflowId: `bench-baseline-restart-${row.id}-${round}`,
      args: [{ workspaceId: row.id }],
      signal: 'restartRequested',
      signalArgs: [{ resetSession: false }],
      workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
    });
    return reply.status(202).send({ status: 'accepted', workflow_id: handle.workflowId, run_id: handle.signaledRunId });
  });
  await app.listen({ host: '127.0.0.1', port });
  process.once('SIGTERM', () => void app.close().then(() => Promise.all([pool.end(), connection.close()])).then(() => process.exit(0)));
}

main().catch((err: Error) => {
  console.error(JSON.stringify({ level: 'fatal', msg: 'baseline server failed', err: err.message }));
  process.exit(1);
});
