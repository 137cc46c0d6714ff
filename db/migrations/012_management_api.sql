-- The management API (SPEC-ADDENDUM A11, A12): canvas fields PATCH sets, token prefixes for the token
-- list, and who an activity came from. The activity_logs_source_check list is checked against
-- ACTIVITY_SOURCES (domain/vocabulary.ts) by test/integration/migrations.test.ts.

ALTER TABLE workspaces
  ADD COLUMN collapsed     boolean NOT NULL DEFAULT false,
  -- the agent's working directory on its host; absolute, applied at the next restart
  ADD COLUMN workspace_dir text CONSTRAINT workspaces_workspace_dir_check
    CHECK (workspace_dir IS NULL OR (left(workspace_dir, 1) = '/' AND length(workspace_dir) <= 4096));

-- The first 8 characters of the token, so an operator can tell tokens apart; never enough to use one.
-- Tokens minted before this migration have none (NULL).
ALTER TABLE workspace_auth_tokens ADD COLUMN prefix text CONSTRAINT workspace_auth_tokens_prefix_check CHECK (length(prefix) = 8);

-- `platform` (workflows, sweeps), `canvas` (an operator through the admin API), `agent` (the agent's
-- own calls). source_id / target_id: the workspaces an entry is between (GET ...?peer_id= matches either).
ALTER TABLE activity_logs
  ADD COLUMN source    text NOT NULL DEFAULT 'platform' CONSTRAINT activity_logs_source_check CHECK (source IN ('platform','canvas','agent')),
  ADD COLUMN source_id uuid,
  ADD COLUMN target_id uuid;
CREATE INDEX activity_logs_ws_id_idx ON activity_logs (workspace_id, id);

-- GET /workspaces pages by (created_at, id).
CREATE INDEX workspaces_created_idx ON workspaces (created_at, id);
