-- Event streams resume from a cursor (Last-Event-ID). A bigserial id alone is not a safe cursor: ids are
-- taken at insert, and a transaction holding a lower id may commit after a higher one was already read,
-- so a reader that moved past it would never see it. `tx` is the inserting transaction's id; readers
-- only take events whose transaction is older than every transaction still running
-- (tx < pg_snapshot_xmin(pg_current_snapshot())), ordered by (tx, id): that sequence only ever grows
-- at its end, so (tx, id) is a cursor that misses nothing.
ALTER TABLE structure_events ADD COLUMN tx xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX structure_events_stream_idx ON structure_events (tx, id);
CREATE INDEX structure_events_ws_stream_idx ON structure_events (workspace_id, tx, id);
CREATE INDEX structure_events_import_stream_idx ON structure_events (org_import_id, tx, id);
CREATE INDEX workspaces_org_import_idx ON workspaces (org_import_id) WHERE org_import_id IS NOT NULL;
