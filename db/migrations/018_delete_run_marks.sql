-- A delete cascade marks its subtree with its own run id, so every later step (page the ids that need
-- compute stopped, broadcast WORKSPACE_REMOVED, purge) selects the rows in Postgres instead of carrying
-- the whole id list through workflow payloads (a 10,000-workspace tree was ~800 KB per payload). The
-- last delete that marked a row owns it; NULL for rows no delete has touched (and for a delete's rows
-- whose compute could not be stopped, released so purge keeps them for the sweeper).
ALTER TABLE workspaces ADD COLUMN IF NOT EXISTS delete_run_id text;
CREATE INDEX IF NOT EXISTS workspaces_delete_run_id_idx ON workspaces (delete_run_id, id) WHERE delete_run_id IS NOT NULL;
