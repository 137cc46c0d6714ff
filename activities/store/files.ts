// The files aggregate: what an agent finds in /configs (workspace_files) and the import's snapshot of
// its template files (org_import_files), see migration 010.
import type { Pool } from 'pg';
import type { Queryable } from './db';

export interface StoredFile {
  path: string;
  content: Buffer;
}

export function createFileStore(pool: Pool) {
  return {
    async workspaceFiles(workspaceId: string): Promise<StoredFile[]> {
      const { rows } = await pool.query<StoredFile>('SELECT path, content FROM workspace_files WHERE workspace_id = $1 ORDER BY path', [workspaceId]);
      return rows;
    },

    async listWorkspaceFiles(workspaceId: string): Promise<Array<{ path: string; size: number; updated_at: Date }>> {
      const { rows } = await pool.query<{ path: string; size: number; updated_at: Date }>(
        'SELECT path, octet_length(content) AS size, updated_at FROM workspace_files WHERE workspace_id = $1 ORDER BY path',
        [workspaceId],
      );
      return rows;
    },

    /** Bulk replace: afterwards the workspace has exactly these files (none for an empty list). */
    async replaceWorkspaceFiles(db: Queryable, workspaceId: string, files: StoredFile[]): Promise<void> {
      await db.query('DELETE FROM workspace_files WHERE workspace_id = $1', [workspaceId]);
      if (files.length === 0) return;
      await db.query(
        'INSERT INTO workspace_files (workspace_id, path, content) SELECT $1, * FROM unnest($2::text[], $3::bytea[])',
        [workspaceId, files.map((f) => f.path), files.map((f) => f.content)],
      );
    },

    /** The import's snapshot of template files, one row per file, grouped by the directory they came from. */
    async putImportFiles(db: Queryable, importId: string, files: Array<StoredFile & { source: string }>): Promise<void> {
      if (files.length === 0) return;
      await db.query(
        `INSERT INTO org_import_files (import_id, source, path, content) SELECT $1, * FROM unnest($2::text[], $3::text[], $4::bytea[])
         ON CONFLICT DO NOTHING`,
        [importId, files.map((f) => f.source), files.map((f) => f.path), files.map((f) => f.content)],
      );
    },

    /** A retry works from the same files as the import it retries. */
    async copyImportFiles(db: Queryable, fromImportId: string, toImportId: string): Promise<void> {
      await db.query(
        `INSERT INTO org_import_files (import_id, source, path, content) SELECT $2, source, path, content FROM org_import_files WHERE import_id = $1
         ON CONFLICT DO NOTHING`,
        [fromImportId, toImportId],
      );
    },

    /**
     * Gives workspaces the snapshot's files of these sources, a later source winning a path (one
     * statement for all the workspaces sharing a source list; idempotent: existing paths are kept).
     */
    async copyImportFilesToWorkspaces(db: Queryable, importId: string, workspaceIds: string[], sources: string[]): Promise<void> {
      if (sources.length === 0 || workspaceIds.length === 0) return;
      await db.query(
        `INSERT INTO workspace_files (workspace_id, path, content)
         SELECT ws, f.path, f.content
           FROM (SELECT DISTINCT ON (path) path, content FROM org_import_files WHERE import_id = $1 AND source = ANY($3::text[])
                  ORDER BY path, array_position($3::text[], source) DESC) f
          CROSS JOIN unnest($2::uuid[]) AS ws
         ON CONFLICT (workspace_id, path) DO NOTHING`,
        [importId, workspaceIds, sources],
      );
    },
  };
}
