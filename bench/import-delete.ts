// B1 (import 1,000 external workspaces), B4 (delete that tree) and B5 (RSS through them), each against
// the same rows written by direct SQL in the same run.
import type { Pool } from 'pg';
import { waitFor } from '../test/support/wait-for';
import { peakRssMb, type BenchContext, type BenchStage } from './context';
import { rowByRowImport } from './sql-baselines';

type TemplateNode = { name: string; runtime: 'external'; canvas?: { x: number; y: number }; children?: TemplateNode[] };

/** A depth-4 tree of external workspaces: 1 root, 9, 90, 900 (1,000 in all). */
function bigTemplate(name: string) {
  const level = (prefix: string, n: number, children?: (i: number) => TemplateNode[]): TemplateNode[] =>
    Array.from({ length: n }, (_, i) => ({ name: `${prefix}-${i}`, runtime: 'external', canvas: { x: i, y: i }, ...(children ? { children: children(i) } : {}) }));
  const root: TemplateNode = { name: `${name} root`, runtime: 'external', children: level('L1', 9, (a) => level(`L2-${a}`, 10, (b) => level(`L3-${a}-${b}`, 10))) };
  return { name, workspaces: [root] };
}

async function b1Import(ctx: BenchContext): Promise<string> {
  ctx.progress('B1: baseline, 1,000 workspaces by direct SQL');
  const baselineMs = await rowByRowImport(ctx.pool, bigTemplate('Baseline').workspaces, '-baseline');
  ctx.progress('B1: import of 1,000 external workspaces through the API');
  const t0 = performance.now();
  const res = await ctx.api<{ import_id: string }>('POST', '/org/import', { template: bigTemplate('Bench') });
  if (res.status !== 202) throw new Error(`B1 import answered ${res.status}`);
  const view = await waitFor('B1 import', async () => {
    const v = await ctx.api<{ status: string; created_count: number }>('GET', `/org/imports/${res.body.import_id}`);
    return v.body.status !== 'running' ? v.body : null;
  }, 300_000, 100);
  const ms = performance.now() - t0;
  if (view.status !== 'completed' || view.created_count !== 1000) throw new Error(`B1 import ended ${view.status} with ${view.created_count} created`);
  ctx.record({ id: 'B1', what: 'import 1,000 external workspaces (depth 4): wall time', value: Math.round(ms), unit: 'ms', baseline: Math.round(baselineMs), ratio: ms / baselineMs, target: '< 10 s, ≤ 4x', ok: ms < 10_000 && ms / baselineMs <= 4 });
  ctx.record({ id: 'B1', what: 'import throughput', value: Math.round(1000 / (ms / 1000)), unit: 'workspaces/s' });
  const apiRss = peakRssMb(ctx.apiProc.pid as number);
  const workerRss = peakRssMb(ctx.workerProc.pid as number);
  ctx.record({ id: 'B5', what: 'peak RSS of the API process (through B1)', value: apiRss, unit: 'MB', target: '< 300 MB', ok: apiRss < 300 });
  ctx.record({ id: 'B5', what: 'peak RSS of the worker process (through B1)', value: workerRss, unit: 'MB', target: '< 300 MB', ok: workerRss < 300 });
  const { rows: root } = await ctx.pool.query<{ id: string }>(`SELECT id FROM workspaces WHERE name = 'Bench root' AND status <> 'removed'`);
  return root[0].id;
}

/** Baseline for B4: the baseline tree marked removed with its layouts, tokens, schedules and events in one transaction. */
async function baselineDelete(pool: Pool): Promise<number> {
  const { rows: base } = await pool.query<{ id: string }>(`SELECT id FROM workspaces WHERE name = 'Baseline root-baseline'`);
  const t0 = performance.now();
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const { rows: ids } = await client.query<{ id: string }>(
      `WITH RECURSIVE tree AS (SELECT id FROM workspaces WHERE id = $1 UNION ALL SELECT w.id FROM workspaces w JOIN tree t ON w.parent_id = t.id)
       UPDATE workspaces w SET status = 'removed', removed_at = now() FROM tree WHERE w.id = tree.id RETURNING w.id`,
      [base[0].id],
    );
    const list = ids.map((r) => r.id);
    await client.query('DELETE FROM canvas_layouts WHERE workspace_id = ANY($1::uuid[])', [list]);
    await client.query('UPDATE workspace_auth_tokens SET revoked_at = now() WHERE workspace_id = ANY($1::uuid[])', [list]);
    await client.query('UPDATE workspace_schedules SET enabled = false WHERE workspace_id = ANY($1::uuid[])', [list]);
    await client.query(`INSERT INTO structure_events (event_type, workspace_id) SELECT 'WORKSPACE_REMOVED', unnest($1::uuid[])`, [list]);
    await client.query('COMMIT');
  } finally {
    client.release();
  }
  return performance.now() - t0;
}

async function b4Delete(ctx: BenchContext, rootId: string): Promise<void> {
  ctx.progress('B4: delete of the 1,000-workspace tree (baseline, then the API)');
  const baselineMs = await baselineDelete(ctx.pool);
  const t0 = performance.now();
  const res = await ctx.api<{ cascade_deleted: number }>('DELETE', `/workspaces/${rootId}?confirm=true`);
  const ms = performance.now() - t0;
  if (res.status !== 200 || res.body.cascade_deleted !== 1000) throw new Error(`B4 delete answered ${res.status} ${JSON.stringify(res.body)}`);
  ctx.record({ id: 'B4', what: 'delete cascade of the 1,000-workspace tree', value: Math.round(ms), unit: 'ms', baseline: Math.round(baselineMs), ratio: ms / baselineMs });
}

export const importDelete: BenchStage = {
  id: 'B1',
  title: 'import 1,000 external workspaces, delete them (B1, B4, B5)',
  async run(ctx) {
    await b4Delete(ctx, await b1Import(ctx));
  },
};
