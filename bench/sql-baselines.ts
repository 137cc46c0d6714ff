// Baselines written as a hand-written script would, from one Node process with no Temporal: what the
// import figures (B1, B6) are measured against.
import type { Pool } from 'pg';
import { hashToken, newAuthToken } from '../activities/crypto';

export interface BaselineNode {
  name: string;
  runtime: string;
  compute?: 'docker';
  canvas?: { x: number; y: number };
  children?: BaselineNode[];
}

/**
 * The same rows, tokens (external agents), layouts and the import's event pair, a statement per row and
 * a transaction per level; each row's name gets `suffix` so it never meets the platform's. Returns ms.
 */
export async function rowByRowImport(pool: Pool, roots: BaselineNode[], suffix: string): Promise<number> {
  const t0 = performance.now();
  const client = await pool.connect();
  try {
    await client.query(`INSERT INTO structure_events (event_type, payload) VALUES ('org.import.started', '{}')`);
    let level: Array<{ node: BaselineNode; parent: string | null }> = roots.map((node) => ({ node, parent: null }));
    while (level.length) {
      await client.query('BEGIN');
      const next: typeof level = [];
      for (const { node, parent } of level) {
        const { rows } = await client.query<{ id: string }>(
          `INSERT INTO workspaces (name, runtime, compute, status, parent_id) VALUES ($1, $2, $3, $4, $5) RETURNING id`,
          [`${node.name}${suffix}`, node.runtime, node.compute ?? 'none', node.compute ? 'provisioning' : 'awaiting_agent', parent],
        );
        if (!node.compute) await client.query('INSERT INTO workspace_auth_tokens (workspace_id, token_hash) VALUES ($1, $2)', [rows[0].id, hashToken(newAuthToken())]);
        if (node.canvas) await client.query('INSERT INTO canvas_layouts (workspace_id, x, y) VALUES ($1, $2, $3)', [rows[0].id, node.canvas.x, node.canvas.y]);
        for (const c of node.children ?? []) next.push({ node: c, parent: rows[0].id });
      }
      await client.query('COMMIT');
      level = next;
    }
    await client.query(`INSERT INTO structure_events (event_type, payload) VALUES ('org.import.completed', '{}')`);
  } finally {
    client.release();
  }
  return performance.now() - t0;
}
