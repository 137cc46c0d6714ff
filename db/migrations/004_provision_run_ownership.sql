-- Provision-run ownership (issue 13, rules 3, 10, 11, 12). A workspace row records which provision
-- run owns it, when that run started and when it times out; each token records the run that minted
-- it. A stale or retried step of a run is then recognisable (its deterministic token's hash already
-- exists) and a step of an older run can be told apart from one of the run that owns the row.
ALTER TABLE workspaces
  ADD COLUMN provision_run_id text CHECK (length(provision_run_id) <= 200),
  -- workflowInfo().runStartTime of that run: runs of one workflow id never overlap, so a later start
  -- is a newer run, and an older run's step never takes a row back from a newer one.
  ADD COLUMN provision_run_started_at timestamptz,
  -- The one provision deadline: the workflow's registration timer, GET's provision_deadline and the
  -- sweeper's stuck pass all read it (set when the run begins, from resolveProvisionTimeout()).
  ADD COLUMN provision_deadline_at timestamptz,
  -- The run whose token the agent registered with; the workflow's lost-signal fallback requires it.
  ADD COLUMN registered_run_id text CHECK (length(registered_run_id) <= 200);

-- NULL for tokens minted outside a provision run (imports, the pre-004 path).
ALTER TABLE workspace_auth_tokens ADD COLUMN provision_run_id text CHECK (length(provision_run_id) <= 200);

-- The first step of a provision run, in one round trip and one transaction: revoke live tokens,
-- insert the run's token (its hash is deterministic per run), store the inbound secret, mark the row
-- provisioning (or awaiting_agent), take ownership, set the deadline, record WORKSPACE_PROVISIONING.
-- Outcomes:
--   'begun'      this call did it;
--   'already'    this run's token exists: a re-execution (stale task, retry) changes nothing;
--   'superseded' a newer run owns the row: an older run's step changes nothing;
--   'missing' / 'removed'.
-- A function, not one statement, for the reason given in 003: after waiting for the row lock, the
-- next statement's fresh snapshot sees a token a concurrent execution of the same run just committed.
CREATE FUNCTION begin_provision(
  p_workspace uuid,
  p_run text,
  p_run_started_at timestamptz,
  p_token_hash text,
  p_inbound_secret_enc text,
  p_status text,
  p_timeout_secs integer
) RETURNS TABLE (outcome text, deadline_at timestamptz)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_status text;
  v_run_started timestamptz;
  v_owner text;
  v_deadline timestamptz;
  v_inserted integer;
BEGIN
  IF p_status NOT IN ('provisioning', 'awaiting_agent') THEN
    RAISE EXCEPTION 'begin_provision: status % not allowed', p_status;
  END IF;
  SELECT w.provision_deadline_at INTO v_deadline
    FROM workspace_auth_tokens t JOIN workspaces w ON w.id = t.workspace_id AND w.provision_run_id = p_run
   WHERE t.token_hash = p_token_hash;
  IF FOUND OR EXISTS (SELECT 1 FROM workspace_auth_tokens WHERE token_hash = p_token_hash) THEN
    RETURN QUERY SELECT 'already'::text, v_deadline;
    RETURN;
  END IF;

  SELECT status, provision_run_started_at, provision_run_id, provision_deadline_at INTO v_status, v_run_started, v_owner, v_deadline
    FROM workspaces WHERE id = p_workspace FOR UPDATE;
  IF NOT FOUND THEN
    RETURN QUERY SELECT 'missing'::text, NULL::timestamptz;
    RETURN;
  END IF;
  IF v_status = 'removed' THEN
    RETURN QUERY SELECT 'removed'::text, NULL::timestamptz;
    RETURN;
  END IF;
  -- Re-checked under the lock: a concurrent execution of this run may have committed meanwhile. The
  -- row already owned by this run means the same (its token hash differs only if SECRETS_KEY changed).
  IF v_owner = p_run OR EXISTS (SELECT 1 FROM workspace_auth_tokens WHERE token_hash = p_token_hash) THEN
    RETURN QUERY SELECT 'already'::text, CASE WHEN v_owner = p_run THEN v_deadline END;
    RETURN;
  END IF;
  IF p_run_started_at IS NOT NULL AND v_run_started IS NOT NULL AND v_run_started > p_run_started_at THEN
    RETURN QUERY SELECT 'superseded'::text, NULL::timestamptz;
    RETURN;
  END IF;

  UPDATE workspace_auth_tokens SET revoked_at = now() WHERE workspace_id = p_workspace AND revoked_at IS NULL;
  INSERT INTO workspace_auth_tokens (workspace_id, token_hash, provision_run_id) VALUES (p_workspace, p_token_hash, p_run);
  v_deadline := CASE WHEN p_status = 'provisioning' THEN now() + make_interval(secs => p_timeout_secs) END;
  UPDATE workspaces SET
      status = p_status,
      platform_inbound_secret = p_inbound_secret_enc,
      last_sample_error = NULL,
      provision_run_id = p_run,
      provision_run_started_at = p_run_started_at,
      provision_started_at = now(),
      provision_deadline_at = v_deadline,
      registered_run_id = NULL,
      updated_at = now()
    WHERE id = p_workspace;
  IF p_status = 'provisioning' THEN
    WITH inserted AS (
      INSERT INTO structure_events (event_type, workspace_id, payload, dedupe_key)
      VALUES ('WORKSPACE_PROVISIONING', p_workspace, '{}'::jsonb, p_run || ':provisioning')
      ON CONFLICT (dedupe_key) DO NOTHING RETURNING 1)
    SELECT count(*) INTO v_inserted FROM inserted;
    IF v_inserted > 0 THEN
      PERFORM pg_notify('molecule_events', json_build_object('type', 'WORKSPACE_PROVISIONING', 'workspaceId', p_workspace, 'orgImportId', NULL)::text);
    END IF;
  END IF;
  RETURN QUERY SELECT 'begun'::text, v_deadline;
END
$$;

-- Agent registration, tied to the token it authenticated with: the row lock is taken first, then the
-- token is re-checked live in a fresh snapshot, so a token revoked by a begin_provision that held the
-- lock cannot register after it. Records the token's run as registered_run_id.
-- Outcomes: 'registered' (with status, secret, run), 'unauthorized' (token unknown, revoked or another
-- workspace's), 'removed'.
CREATE FUNCTION register_agent(p_workspace uuid, p_token_hash text, p_url text)
RETURNS TABLE (outcome text, status text, platform_inbound_secret text, run_id text)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_status text;
  v_run text;
BEGIN
  SELECT w.status INTO v_status FROM workspaces w WHERE w.id = p_workspace FOR UPDATE;
  IF NOT FOUND THEN
    RETURN QUERY SELECT 'unauthorized'::text, NULL::text, NULL::text, NULL::text;
    RETURN;
  END IF;
  SELECT t.provision_run_id INTO v_run FROM workspace_auth_tokens t
   WHERE t.token_hash = p_token_hash AND t.workspace_id = p_workspace AND t.revoked_at IS NULL;
  IF NOT FOUND THEN
    RETURN QUERY SELECT 'unauthorized'::text, NULL::text, NULL::text, NULL::text;
    RETURN;
  END IF;
  IF v_status = 'removed' THEN
    RETURN QUERY SELECT 'removed'::text, NULL::text, NULL::text, NULL::text;
    RETURN;
  END IF;
  RETURN QUERY
    UPDATE workspaces w SET status = 'online', url = COALESCE(p_url, w.url), last_heartbeat_at = now(),
           last_sample_error = NULL, registered_run_id = v_run, updated_at = now()
     WHERE w.id = p_workspace
    RETURNING 'registered'::text, w.status, w.platform_inbound_secret, v_run;
END
$$;
