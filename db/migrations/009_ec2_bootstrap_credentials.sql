-- EC2 user data is readable by anyone with ec2:DescribeInstanceAttribute, so it carries no secret:
-- only the platform URL, the workspace id and a one-time bootstrap credential, which the agent
-- exchanges once (POST /registry/bootstrap) for its token and env. Only the credential's sha256 is
-- stored; it expires with the provision run's deadline and is spent by its first use.
CREATE TABLE workspace_bootstrap_credentials (
  credential_hash  text PRIMARY KEY CHECK (credential_hash ~ '^[0-9a-f]{64}$'),
  workspace_id     uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
  provision_run_id text NOT NULL CHECK (length(provision_run_id) <= 200),
  -- the model the provision request named (it wins over the stored ones when env is assembled)
  request_model    text CHECK (length(request_model) <= 200),
  expires_at       timestamptz NOT NULL,
  used_at          timestamptz,
  created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX workspace_bootstrap_credentials_ws_idx ON workspace_bootstrap_credentials (workspace_id);
