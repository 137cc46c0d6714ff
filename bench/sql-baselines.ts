// Baselines written as a hand-written script would, from one Node process with no Temporal: what the
// import figures (B1, B6) are measured against.
import { randomBytes, randomUUID } from 'node:crypto';
import type { Pool } from 'pg';
import { createSecretBox, hashToken, newAuthToken, newInboundSecret } from '../activities/crypto';
import { SNAPSHOT_FORMAT } from '../activities/template-snapshot';
import type { Runtime } from '../domain/vocabulary';
import { deliveryModeFor } from '../domain/workspace-defaults';

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

type Level = Array<{ node: BaselineNode; parent: string | null; key: string }>;

/**
 * What a competent script does: per level one INSERT ... SELECT FROM unnest per table, one transaction.
 * It writes the rows the import writes: the import with its template snapshot, the workspaces with their
 * provenance and sealed inbound secrets (external agents), tokens, layouts, an item row per workspace,
 * and the event pair. Rows the import has and this script did not write made the ratio a comparison
 * of different work. Each row's name gets `suffix`. Returns ms.
 */
export async function bulkImport(pool: Pool, template: { name: string; workspaces: BaselineNode[] }, suffix: string): Promise<number> {
  const box = createSecretBox(randomBytes(32));
  const importId = randomUUID();
  const orgKey = `bench-bulk-${importId}`;
  const t0 = performance.now();
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query(
      'INSERT INTO org_imports (id, mode, template_name, template, snapshot_format, workflow_id, org_key) VALUES ($1, $2, $3, $4, $5, $6, $7)',
      [importId, 'merge', template.name, JSON.stringify(template), SNAPSHOT_FORMAT.sealed, `bench-bulk-${importId}`, orgKey],
    );
    await client.query(`INSERT INTO structure_events (event_type, org_import_id, payload) VALUES ('org.import.started', $1, '{}')`, [importId]);
    let level: Level = template.workspaces.map((node) => ({ node, parent: null, key: node.name }));
    for (let depth = 0; level.length; depth++) {
      const { rows } = await client.query<{ id: string; name: string }>(
        `INSERT INTO workspaces (name, runtime, compute, status, parent_id, delivery_mode, org_import_id, origin, org_key, platform_inbound_secret)
         SELECT t.name, t.runtime, t.compute, t.status, t.parent_id, t.delivery_mode, $6::uuid, 'import', $7::text, t.secret
           FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::uuid[], $8::text[], $9::text[])
             AS t(name, runtime, compute, status, parent_id, delivery_mode, secret)
         RETURNING id, name`,
        [
          level.map((l) => `${l.node.name}${suffix}`),
          level.map((l) => l.node.runtime),
          level.map((l) => l.node.compute ?? 'none'),
          level.map((l) => (l.node.compute ? 'provisioning' : 'awaiting_agent')),
          level.map((l) => l.parent),
          importId,
          orgKey,
          level.map((l) => deliveryModeFor(l.node.runtime as Runtime)),
          level.map((l) => (l.node.compute ? null : box.seal(newInboundSecret()))),
        ],
      );
      const ids = new Map(rows.map((r) => [r.name, r.id]));
      const idOf = (l: Level[number]) => ids.get(`${l.node.name}${suffix}`) as string;
      const external = level.filter((l) => !l.node.compute);
      await client.query('INSERT INTO workspace_auth_tokens (workspace_id, token_hash) SELECT * FROM unnest($1::uuid[], $2::text[])', [
        external.map(idOf),
        external.map(() => hashToken(newAuthToken())),
      ]);
      const placed = level.filter((l) => l.node.canvas);
      await client.query('INSERT INTO canvas_layouts (workspace_id, x, y) SELECT * FROM unnest($1::uuid[], $2::float8[], $3::float8[])', [
        placed.map(idOf),
        placed.map((l) => l.node.canvas?.x),
        placed.map((l) => l.node.canvas?.y),
      ]);
      await client.query(
        `INSERT INTO org_import_items (import_id, key, depth, name, workspace_id, outcome, needs_provision)
         SELECT $1, u.key, $2, u.name, u.ws, 'created', u.provision FROM unnest($3::text[], $4::text[], $5::uuid[], $6::boolean[]) AS u(key, name, ws, provision)`,
        [importId, depth, level.map((l) => l.key), level.map((l) => l.node.name), level.map(idOf), level.map((l) => !!l.node.compute)],
      );
      level = level.flatMap((l) => (l.node.children ?? []).map((node) => ({ node, parent: idOf(l), key: `${l.key}/${node.name}` })));
    }
    await client.query(`INSERT INTO structure_events (event_type, org_import_id, payload) VALUES ('org.import.completed', $1, '{}')`, [importId]);
    await client.query('COMMIT');
  } finally {
    client.release();
  }
  return performance.now() - t0;
}
