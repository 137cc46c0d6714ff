-- What an agent finds in /configs besides its token (SPEC-ADDENDUM A6): the files of its template's
-- files_dir and plugins, copied when the import created it, replaced by PUT /workspaces/:id/files.
-- Kept in Postgres, not only in the config volume, so a rebuild (restart with rebuild_config), a retry
-- of the import or an EC2 agent's fetch months later writes the same files. org_import_files is the
-- import's snapshot of them, read from the template directory once, when the import was accepted.
CREATE TABLE workspace_files (
  workspace_id uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
  path         text NOT NULL CHECK (octet_length(path) BETWEEN 1 AND 100 AND path !~ '(^/|(^|/)\.\.(/|$)|//|\\)'),
  content      bytea NOT NULL CHECK (octet_length(content) <= 1048576),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (workspace_id, path)
);

CREATE TABLE org_import_files (
  import_id uuid NOT NULL REFERENCES org_imports(id) ON DELETE CASCADE,
  -- `files_dir:<dir>` or `plugin:<name>`: which template directory the file came from
  source    text NOT NULL CHECK (length(source) <= 1100),
  path      text NOT NULL CHECK (octet_length(path) BETWEEN 1 AND 100),
  content   bytea NOT NULL CHECK (octet_length(content) <= 1048576),
  PRIMARY KEY (import_id, source, path)
);
