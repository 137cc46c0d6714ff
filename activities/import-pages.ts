// The paged provisioning phase of an org import (issue #19). The items that need a provision are fixed
// in org_import_items (needs_provision, set with the level's rows), so the workflow reads them a page at
// a time in (depth, key) order after a cursor, and a cancel marks what is left in one statement: no
// payload carries a list that grows with the tree.
import type { WorkspaceLabel } from '../domain/workflow-summary';
import type { ItemCursor } from '../domain/import-item-cursor';
import { EVENTS } from '../domain/vocabulary';
import type { WorkspaceStore } from './workspace-store';

export interface ProvisionPageItem {
  key: string;
  depth: number;
  workspaceId: string;
  workspace: WorkspaceLabel;
}

/** The message a workspace shows when its import was cancelled before its provision began. */
export const CANCELLED_BEFORE_PROVISION = 'The import was cancelled before this workspace was provisioned.';

/**
 * A page stops early past this many bytes of keys and labels, so its result (and the page's outcomes,
 * whose errors are capped at 500 characters) stays far below Temporal's 256 KB payload limit even for
 * deep trees with long names.
 */
const PAGE_BYTE_BUDGET = 64 * 1024;

/** The most items one page may hold, whatever the workflow asks. */
export const MAX_PAGE_SIZE = 500;

export function createImportPageActivities({ store }: { store: WorkspaceStore }) {
  const pool = store.pool;
  return {
    /** The next items to provision after `after` (null: from the start), in (depth, key) order. */
    async nextProvisionPage(input: { importId: string; after: ItemCursor | null; limit: number }): Promise<{ items: ProvisionPageItem[] }> {
      const limit = Math.max(1, Math.min(MAX_PAGE_SIZE, Math.floor(input.limit)));
      const { rows } = await pool.query<{ key: string; depth: number; workspace_id: string; name: string | null; runtime: string | null; compute: string | null }>(
        `SELECT i.key, i.depth, i.workspace_id, w.name, w.runtime, w.compute
           FROM org_import_items i LEFT JOIN workspaces w ON w.id = i.workspace_id
          WHERE i.import_id = $1 AND i.needs_provision AND ($2::int IS NULL OR (i.depth, i.key) > ($2::int, $3::text))
          ORDER BY i.depth, i.key LIMIT $4`,
        [input.importId, input.after?.depth ?? null, input.after?.key ?? null, limit],
      );
      const items: ProvisionPageItem[] = [];
      let bytes = 0;
      for (const r of rows) {
        const item = { key: r.key, depth: r.depth, workspaceId: r.workspace_id, workspace: { name: r.name ?? '', runtime: r.runtime ?? '', compute: r.compute ?? '' } };
        bytes += Buffer.byteLength(JSON.stringify(item));
        // Always at least one item, so the phase moves on whatever one item's size.
        if (items.length > 0 && bytes > PAGE_BYTE_BUDGET) break;
        items.push(item);
      }
      return { items };
    },

    /**
     * The import was cancelled: every item to provision after `after` whose outcome is not recorded
     * yet ends `cancelled` (in-flight items included: their provision compensates). A workspace whose
     * provision never began is marked failed (not left `provisioning` with nothing behind it), so POST
     * /workspaces/:id/provision or a retry of the import can pick it up; one whose provision started
     * belongs to that run and is not touched. Every statement is guarded by the state it moves away
     * from, and the events are deduplicated, so a second run changes nothing.
     */
    async cancelRemainingItems(input: { importId: string; after: ItemCursor | null }): Promise<{ cancelled: number }> {
      const after = [input.importId, input.after?.depth ?? null, input.after?.key ?? null];
      const remaining = `i.import_id = $1 AND i.needs_provision AND ($2::int IS NULL OR (i.depth, i.key) > ($2::int, $3::text))`;
      const marked = await pool.query(
        `UPDATE org_import_items i SET outcome = 'cancelled', updated_at = now() WHERE ${remaining} AND i.outcome IN ('created', 'existing')`,
        after,
      );
      await pool.query(
        `UPDATE workspaces w SET status = 'failed', last_sample_error = $4, updated_at = now()
           FROM org_import_items i
          WHERE ${remaining} AND i.outcome = 'cancelled' AND w.id = i.workspace_id AND w.status = 'provisioning' AND w.provision_started_at IS NULL`,
        [...after, CANCELLED_BEFORE_PROVISION],
      );
      // Also the rows a first run of this activity marked before it was interrupted.
      const { rows } = await pool.query<{ id: string }>(
        `SELECT w.id FROM org_import_items i JOIN workspaces w ON w.id = i.workspace_id
          WHERE ${remaining} AND i.outcome = 'cancelled' AND w.status = 'failed' AND w.provision_started_at IS NULL AND w.last_sample_error = $4`,
        [...after, CANCELLED_BEFORE_PROVISION],
      );
      await store.recordEvents(
        EVENTS.workspaceProvisionFailed,
        rows.map((r) => ({ workspaceId: r.id, payload: { error: CANCELLED_BEFORE_PROVISION }, dedupeKey: `${input.importId}:cancelled:${r.id}` })),
      );
      return { cancelled: marked.rowCount ?? 0 };
    },
  };
}
