-- Provenance (issue #13): every workspace records how it came to exist, so that an import's reconcile
-- and merge dedupe act only on what imports of the same org created. `origin` is `api` or `import`;
-- an imported workspace carries its org key (the template's `org_key`, else its `name`) and the id of
-- the import that created it. The CHECK lists are verified against domain/vocabulary.ts.
ALTER TABLE workspaces
  ADD COLUMN origin  text NOT NULL DEFAULT 'api' CONSTRAINT workspaces_origin_check CHECK (origin IN ('api','import')),
  ADD COLUMN org_key text CONSTRAINT workspaces_org_key_length CHECK (length(org_key) BETWEEN 1 AND 200);

ALTER TABLE org_imports
  ADD COLUMN org_key        text,
  -- Reconcile targets spared because their subtree holds a workspace the org does not own.
  ADD COLUMN reconcile_kept jsonb NOT NULL DEFAULT '[]'::jsonb;

-- Backfill: the org key of past imports is their template's name (no template had org_key before).
UPDATE org_imports SET org_key = COALESCE(template->>'org_key', template->>'name', template_name, id::text);
ALTER TABLE org_imports ALTER COLUMN org_key SET NOT NULL,
  ADD CONSTRAINT org_imports_org_key_length CHECK (length(org_key) BETWEEN 1 AND 200);

UPDATE workspaces w SET origin = 'import', org_key = i.org_key FROM org_imports i WHERE w.org_import_id = i.id;

ALTER TABLE workspaces ADD CONSTRAINT workspaces_provenance_check
  CHECK ((origin = 'import') = (org_key IS NOT NULL) AND (origin = 'api' OR org_import_id IS NOT NULL));

-- Merge dedupe and reconcile look workspaces up by org, then parent and name.
CREATE INDEX workspaces_org_scope_idx ON workspaces (org_key, parent_id, name) WHERE status <> 'removed';

ALTER TABLE org_imports DROP CONSTRAINT org_imports_status_check,
  ADD CONSTRAINT org_imports_status_check CHECK (status IN ('running','completed','failed','cancelled'));

ALTER TABLE org_import_items DROP CONSTRAINT org_import_items_outcome_check,
  ADD CONSTRAINT org_import_items_outcome_check
    CHECK (outcome IN ('created','existing','not_spawned','online','awaiting_agent','failed',
                       'skipped','superseded','removed','cancelled'));
