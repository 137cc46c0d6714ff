// Every admin route that acts on a workspace first proves it exists and is not removed: 404 and 410
// answer the same way everywhere.
import type { WorkspaceRow } from '../../activities/workspace-store';
import { notFound, workspaceRemoved } from '../errors';

export function liveWorkspaceLoader(read: (id: string) => Promise<WorkspaceRow | null>) {
  return async function loadLive(id: string): Promise<WorkspaceRow> {
    const row = await read(id);
    if (!row) throw notFound('workspace');
    if (row.status === 'removed') throw workspaceRemoved(row);
    return row;
  };
}
