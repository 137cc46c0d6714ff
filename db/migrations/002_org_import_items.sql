-- One row per template workspace per import: makes the create-level activity idempotent (a re-run
-- finds its rows) and gives GET /org/imports/:id its per-workspace outcome.
CREATE TABLE org_import_items (
  import_id    uuid NOT NULL REFERENCES org_imports(id) ON DELETE CASCADE,
  key          text NOT NULL,
  depth        integer NOT NULL,
  name         text NOT NULL,
  workspace_id uuid,
  outcome      text NOT NULL CONSTRAINT org_import_items_outcome_check
                 CHECK (outcome IN ('created','existing','not_spawned','online','awaiting_agent','failed')),
  error        text CHECK (length(error) <= 1000),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (import_id, key)
);
CREATE INDEX org_import_items_ws_idx ON org_import_items (workspace_id);
