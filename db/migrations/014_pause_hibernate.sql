-- Issue 17, SPEC-ADDENDUM A10: pause, resume, hibernation.
--
-- hibernation_idle_minutes: the idle monitor (A10.4) hibernates an online/degraded platform-run
-- workspace with no active task whose last heartbeat is older than this many minutes; 0 = never.
-- Bounded to a year of minutes (the API validates the same bounds).
ALTER TABLE workspaces
  ADD COLUMN hibernation_idle_minutes integer NOT NULL DEFAULT 0
    CHECK (hibernation_idle_minutes BETWEEN 0 AND 525600);

-- The idle monitor's candidates: only rows that opted in are ever read.
CREATE INDEX workspaces_idle_monitor_idx ON workspaces (status) WHERE hibernation_idle_minutes > 0;

-- 013's begin_provision, plus one guard: a `paused` or `hibernating` row is never provisioned (new
-- outcome 'paused'; the provision activity fails non-retryably with WorkspacePaused). A restart or a
-- re-provision racing a pause or a hibernation thus cannot bring the workspace back. Otherwise unchanged.
CREATE OR REPLACE FUNCTION begin_provision(
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
  v_name text;
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

  SELECT status, provision_run_started_at, provision_run_id, provision_deadline_at, name INTO v_status, v_run_started, v_owner, v_deadline, v_name
    FROM workspaces WHERE id = p_workspace FOR UPDATE;
  IF NOT FOUND THEN
    RETURN QUERY SELECT 'missing'::text, NULL::timestamptz;
    RETURN;
  END IF;
  IF v_status = 'removed' THEN
    RETURN QUERY SELECT 'removed'::text, NULL::timestamptz;
    RETURN;
  END IF;
  -- 014: an operator parked it (paused, or a hibernation in progress): no provision may start it. Resume
  -- and wake claim the row (-> provisioning) before they start their provision.
  IF v_status IN ('paused', 'hibernating') THEN
    RETURN QUERY SELECT 'paused'::text, NULL::timestamptz;
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
  ELSIF v_status IS DISTINCT FROM 'awaiting_agent' THEN
    -- An external workspace provisioned again (a new token) waits for its agent: the status change and
    -- its event commit together. A new row is awaiting_agent already (its create recorded the event).
    WITH inserted AS (
      INSERT INTO structure_events (event_type, workspace_id, payload, dedupe_key)
      VALUES ('WORKSPACE_AWAITING_AGENT', p_workspace, jsonb_build_object('name', v_name, 'external', true), p_run || ':awaiting_agent')
      ON CONFLICT (dedupe_key) DO NOTHING RETURNING 1)
    SELECT count(*) INTO v_inserted FROM inserted;
    IF v_inserted > 0 THEN
      PERFORM pg_notify('molecule_events', json_build_object('type', 'WORKSPACE_AWAITING_AGENT', 'workspaceId', p_workspace, 'orgImportId', NULL)::text);
    END IF;
  END IF;
  RETURN QUERY SELECT 'begun'::text, v_deadline;
END
$$;
