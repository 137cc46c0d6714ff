// Reconcile of an org import (SPEC-ADDENDUM A13.3 with provenance). The "tenant" is the org: only
// workspaces that imports of the same org key created can be targets, never one created through the
// API or by another org's import, whatever its name. A target is any live workspace of the org that
// this import's result set does not contain (zombies left by a rename or reparent, dropped children
// and subtrees, dropped roots). A target whose subtree holds a workspace the org does not own (a
// child a user added by hand, another org's) or one this import keeps is not deleted: it is kept and
// reported, because deleting it would cascade into what is not the org's to remove.
import type { Queryable } from './store/db';

export interface KeptTarget {
  workspace_id: string;
  name: string;
  /** Live workspaces in its subtree that the reconcile may not remove. */
  not_removable: number;
}

export interface ReconcilePlan {
  /** Tops of the removable subtrees: each is deleted with its descendants. */
  roots: string[];
  kept: KeptTarget[];
}

export async function planReconcile(db: Queryable, input: { importId: string; orgKey: string; names: string[]; resultIds: string[] }): Promise<ReconcilePlan> {
  // Empty-set guards (A13.3): without names or result ids nothing is removed.
  if (input.names.length === 0 || input.resultIds.length === 0) return { roots: [], kept: [] };
  const { rows } = await db.query<{ id: string; name: string; parent_id: string | null; not_removable: number }>(
    `WITH RECURSIVE targets AS (
       SELECT w.id, w.parent_id, w.name FROM workspaces w
        WHERE w.origin = 'import' AND w.org_key = $1 AND w.status <> 'removed' AND NOT (w.id = ANY($2::uuid[]))
          -- what another import of the org is creating right now is not a leftover
          AND NOT EXISTS (SELECT 1 FROM org_imports i WHERE i.id = w.org_import_id AND i.status = 'running' AND i.id <> $3)
     ),
     -- UNION (not UNION ALL) drops repeated (root, id) rows, so a corrupt parent cycle ends the walk.
     sub(root, id) AS (
       SELECT t.id, t.id FROM targets t
       UNION
       SELECT s.root, w.id FROM workspaces w JOIN sub s ON w.parent_id = s.id WHERE w.status <> 'removed'
     )
     SELECT t.id, t.name, t.parent_id,
            (SELECT count(*) FROM sub s WHERE s.root = t.id AND NOT EXISTS (SELECT 1 FROM targets x WHERE x.id = s.id))::int AS not_removable
       FROM targets t ORDER BY t.id`,
    [input.orgKey, input.resultIds, input.importId],
  );
  const removable = new Set(rows.filter((r) => r.not_removable === 0).map((r) => r.id));
  return {
    // A removable target under a removable parent goes with its parent's cascade.
    roots: rows.filter((r) => removable.has(r.id) && !(r.parent_id && removable.has(r.parent_id))).map((r) => r.id),
    kept: rows.filter((r) => r.not_removable > 0).map((r) => ({ workspace_id: r.id, name: r.name, not_removable: r.not_removable })),
  };
}
