-- Issue #19: the items of an import that need a provision are fixed when their level is created (in the
-- level's transaction), so the provisioning phase pages them from Postgres in (depth, key) order after a
-- cursor instead of carrying every item through workflow payloads (a 5,000-workspace tree passed both
-- the 256 KB payload and the 10,000-event history limits). Rows written before this column are false:
-- the runs that wrote them keep their item list in their own history.
ALTER TABLE org_import_items ADD COLUMN IF NOT EXISTS needs_provision boolean NOT NULL DEFAULT false;
CREATE INDEX IF NOT EXISTS org_import_items_provision_idx ON org_import_items (import_id, depth, key) WHERE needs_provision;
