-- Initial schema. The CHECK lists for status/runtime/compute/... are verified against
-- domain/vocabulary.ts by test/integration/migrations.test.ts (one source of truth: the TS lists).

CREATE TABLE workspaces (
  id                        uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name                      text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  role                      text NOT NULL DEFAULT '' CHECK (length(role) <= 200),
  tier                      integer NOT NULL DEFAULT 1 CHECK (tier BETWEEN 0 AND 10),
  runtime                   text NOT NULL CONSTRAINT workspaces_runtime_check
                              CHECK (runtime IN ('claude-code','hermes','openclaw','codex','external')),
  compute                   text NOT NULL CONSTRAINT workspaces_compute_check
                              CHECK (compute IN ('docker','ec2','none')),
  parent_id                 uuid REFERENCES workspaces(id),
  url                       text,
  status                    text NOT NULL DEFAULT 'provisioning' CONSTRAINT workspaces_status_check
                              CHECK (status IN ('provisioning','online','offline','degraded','failed','removed',
                                                'paused','hibernated','hibernating','awaiting_agent')),
  delivery_mode             text NOT NULL DEFAULT 'push' CONSTRAINT workspaces_delivery_mode_check
                              CHECK (delivery_mode IN ('push','poll')),
  update_tier               text NOT NULL DEFAULT 'production' CONSTRAINT workspaces_update_tier_check
                              CHECK (update_tier IN ('canary','production')),
  model                     text CHECK (length(model) <= 200),
  instance_id               text,
  container_name            text,
  last_sample_error         text CHECK (length(last_sample_error) <= 1000),
  budget_limit              bigint CHECK (budget_limit BETWEEN 0 AND 100000000000),
  monthly_spend             bigint NOT NULL DEFAULT 0 CHECK (monthly_spend BETWEEN 0 AND 100000000000),
  max_concurrent_tasks      integer NOT NULL DEFAULT 1 CHECK (max_concurrent_tasks BETWEEN 1 AND 100),
  -- template runtime_config.provision_timeout_seconds; resolveProvisionTimeout() applies precedence
  provision_timeout_seconds integer CHECK (provision_timeout_seconds BETWEEN 1 AND 604800),
  -- env names (validated ^[A-Z][A-Z0-9_]{0,127}$) the agent cannot start without: provision preflight
  required_env              text[] NOT NULL DEFAULT '{}',
  -- encrypted (AES-256-GCM); echoed to the agent on heartbeat so an agent that lost it recovers
  platform_inbound_secret   text,
  provision_started_at      timestamptz,
  last_heartbeat_at         timestamptz,
  org_import_id             uuid,
  removed_at                timestamptz,
  created_at                timestamptz NOT NULL DEFAULT now(),
  updated_at                timestamptz NOT NULL DEFAULT now(),
  CHECK ((status = 'removed') = (removed_at IS NOT NULL))
);
CREATE INDEX workspaces_parent_idx ON workspaces (parent_id);
CREATE INDEX workspaces_status_idx ON workspaces (status);
CREATE INDEX workspaces_scope_name_idx ON workspaces (parent_id, name) WHERE status <> 'removed';

CREATE TABLE global_secrets (
  name        text PRIMARY KEY CHECK (name ~ '^[A-Z][A-Z0-9_]{0,127}$'),
  value_enc   text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE workspace_secrets (
  workspace_id uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
  name         text NOT NULL CHECK (name ~ '^[A-Z][A-Z0-9_]{0,127}$'),
  value_enc    text NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (workspace_id, name)
);

-- Only the sha256 of each token is stored; the plaintext is shown once.
CREATE TABLE workspace_auth_tokens (
  id           bigserial PRIMARY KEY,
  workspace_id uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
  token_hash   text NOT NULL UNIQUE CHECK (token_hash ~ '^[0-9a-f]{64}$'),
  created_at   timestamptz NOT NULL DEFAULT now(),
  last_used_at timestamptz,
  revoked_at   timestamptz
);
CREATE INDEX workspace_auth_tokens_live_idx ON workspace_auth_tokens (workspace_id) WHERE revoked_at IS NULL;

CREATE TABLE canvas_layouts (
  workspace_id uuid PRIMARY KEY REFERENCES workspaces(id) ON DELETE CASCADE,
  x            double precision NOT NULL DEFAULT 0,
  y            double precision NOT NULL DEFAULT 0,
  updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE workspace_schedules (
  id           bigserial PRIMARY KEY,
  workspace_id uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
  cron         text NOT NULL CHECK (length(cron) <= 200),
  prompt       text NOT NULL CHECK (length(prompt) <= 20000),
  enabled      boolean NOT NULL DEFAULT true,
  created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX workspace_schedules_ws_idx ON workspace_schedules (workspace_id);

-- Broadcast events (also sent with pg_notify on channel 'molecule_events'). dedupe_key makes an
-- activity that runs twice record its event once.
CREATE TABLE structure_events (
  id            bigserial PRIMARY KEY,
  event_type    text NOT NULL,
  workspace_id  uuid,
  org_import_id uuid,
  payload       jsonb NOT NULL DEFAULT '{}'::jsonb,
  dedupe_key    text UNIQUE,
  created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX structure_events_ws_idx ON structure_events (workspace_id);
CREATE INDEX structure_events_import_idx ON structure_events (org_import_id);

CREATE TABLE activity_logs (
  id           bigserial PRIMARY KEY,
  workspace_id uuid,
  action       text NOT NULL,
  level        text NOT NULL DEFAULT 'info' CHECK (level IN ('debug','info','warn','error')),
  message      text NOT NULL,
  details      jsonb NOT NULL DEFAULT '{}'::jsonb,
  dedupe_key   text UNIQUE,
  created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX activity_logs_ws_idx ON activity_logs (workspace_id, created_at);

CREATE TABLE org_imports (
  id                      uuid PRIMARY KEY,
  retry_of                uuid REFERENCES org_imports(id),
  mode                    text NOT NULL CONSTRAINT org_imports_mode_check CHECK (mode IN ('merge','reconcile')),
  status                  text NOT NULL DEFAULT 'running' CONSTRAINT org_imports_status_check
                            CHECK (status IN ('running','completed','failed')),
  template_name           text,
  template                jsonb NOT NULL,
  workflow_id             text NOT NULL,
  created_count           integer NOT NULL DEFAULT 0,
  skipped_count           integer NOT NULL DEFAULT 0,
  failed_count            integer NOT NULL DEFAULT 0,
  reconcile_removed_count integer NOT NULL DEFAULT 0,
  outcomes                jsonb NOT NULL DEFAULT '[]'::jsonb,
  error                   text,
  started_at              timestamptz NOT NULL DEFAULT now(),
  completed_at            timestamptz
);
ALTER TABLE workspaces ADD CONSTRAINT workspaces_org_import_fk FOREIGN KEY (org_import_id) REFERENCES org_imports(id);
