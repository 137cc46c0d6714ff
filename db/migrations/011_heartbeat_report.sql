-- Heartbeats and status (A1, A2): what an agent's heartbeat reports is stored on its row, and every
-- status change made by register or a heartbeat writes its event in the same statement as the change.

-- The latest report of the agent (A2.1), clamped by the API before it gets here; NULL / '' = never
-- reported. runtime_metadata is `{capabilities:{name:bool}, idle_timeout_seconds?}` (A2.4), kept until
-- a heartbeat sends another one, so a capability announced once stays in force.
ALTER TABLE workspaces
  ADD COLUMN active_tasks integer NOT NULL DEFAULT 0 CHECK (active_tasks BETWEEN 0 AND 1000000),
  ADD COLUMN current_task text NOT NULL DEFAULT '' CHECK (length(current_task) <= 1000),
  ADD COLUMN error_rate double precision CHECK (error_rate BETWEEN 0 AND 1),
  ADD COLUMN uptime_seconds bigint CHECK (uptime_seconds BETWEEN 0 AND 315360000),
  ADD COLUMN runtime_state text NOT NULL DEFAULT '' CHECK (length(runtime_state) <= 64),
  ADD COLUMN runtime_metadata jsonb CHECK (runtime_metadata IS NULL OR jsonb_typeof(runtime_metadata) = 'object');

-- A2.2 clamps monthly_spend to 1e12 cents; 001 allowed 1e11.
ALTER TABLE workspaces DROP CONSTRAINT workspaces_monthly_spend_check,
  ADD CONSTRAINT workspaces_monthly_spend_check CHECK (monthly_spend BETWEEN 0 AND 1000000000000);

-- Inserts one structure event and broadcasts it (the LISTEN payload of store/db.ts eventNotice), only
-- when the dedupe key is new. Called inside the functions below, so it is part of their statement.
CREATE FUNCTION record_workspace_event(p_type text, p_workspace uuid, p_payload jsonb, p_dedupe text)
RETURNS void LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_inserted integer;
BEGIN
  WITH inserted AS (
    INSERT INTO structure_events (event_type, workspace_id, payload, dedupe_key)
    VALUES (p_type, p_workspace, p_payload, p_dedupe)
    ON CONFLICT (dedupe_key) DO NOTHING RETURNING 1)
  SELECT count(*) INTO v_inserted FROM inserted;
  IF v_inserted > 0 THEN
    PERFORM pg_notify('molecule_events', json_build_object('type', p_type, 'workspaceId', p_workspace, 'orgImportId', NULL)::text);
  END IF;
END
$$;

-- 004's register_agent, plus the event: a registration that changes the status records
-- WORKSPACE_ONLINE. Its dedupe key is the one the provision workflow's own online step uses
-- (`<run>:online`), so a provisioned workspace gets exactly one WORKSPACE_ONLINE per run whichever of
-- the two writes first; a re-registration of an online agent changes nothing and records nothing.
CREATE OR REPLACE FUNCTION register_agent(p_workspace uuid, p_token_hash text, p_url text)
RETURNS TABLE (outcome text, status text, platform_inbound_secret text, run_id text)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_status text;
  v_run text;
  v_secret text;
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
  UPDATE workspaces w SET status = 'online', url = COALESCE(p_url, w.url), last_heartbeat_at = now(),
         last_sample_error = NULL, registered_run_id = v_run, updated_at = now()
   WHERE w.id = p_workspace
  RETURNING w.platform_inbound_secret INTO v_secret;
  IF v_status <> 'online' THEN
    PERFORM record_workspace_event('WORKSPACE_ONLINE', p_workspace, '{}'::jsonb, v_run || ':online');
  END IF;
  RETURN QUERY SELECT 'registered'::text, 'online'::text, v_secret, v_run;
END
$$;

-- A heartbeat (A1.5, A2), in one statement: store the report, apply the status rules in their order,
-- record one event per status change (and TASK_UPDATED when current_task changed), and answer the
-- status and inbound secret. p_report holds only what the agent reported (a key absent = not
-- reported); p_secret_enc is a freshly sealed secret stored only when the row has none (A2.6).
-- Rules, each guarded on the status at that point:
--   recovery: awaiting_agent / offline / provisioning -> online (payload recovered_from);
--   (a) online and runtime_state 'wedged' -> degraded, even with the status_mgmt capability;
--   (b) online and error_rate >= 0.5 -> degraded, unless status_mgmt;
--   (c) degraded, error_rate < 0.1 and runtime_state empty -> online, unless status_mgmt.
-- An error_rate that was not reported decides neither (b) nor (c). Removed rows are never touched
-- (no row returned); paused, hibernat* and failed rows keep their status (their report is stored).
CREATE FUNCTION record_heartbeat(p_workspace uuid, p_report jsonb, p_secret_enc text)
RETURNS TABLE (status text, platform_inbound_secret text)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_status text;
  v_new text;
  v_task text;
  v_meta jsonb;
  v_mgmt boolean;
  v_state text := COALESCE(p_report->>'runtime_state', '');
  v_rate double precision := (p_report->>'error_rate')::double precision;
  v_sample text := NULLIF(p_report->>'sample_error', '');
  v_spend bigint := (p_report->>'monthly_spend')::bigint;
  v_secret text;
  v_types text[] := '{}';
  v_payloads jsonb[] := '{}';
BEGIN
  SELECT w.status, w.current_task, w.runtime_metadata INTO v_status, v_task, v_meta
    FROM workspaces w WHERE w.id = p_workspace FOR UPDATE;
  IF NOT FOUND OR v_status = 'removed' THEN
    RETURN;
  END IF;
  IF p_report ? 'runtime_metadata' THEN
    v_meta := p_report->'runtime_metadata';
  END IF;
  v_mgmt := COALESCE((v_meta->'capabilities'->>'status_mgmt')::boolean, false);
  v_new := v_status;

  IF v_new IN ('awaiting_agent', 'offline', 'provisioning') THEN
    v_new := 'online';
    v_types := array_append(v_types, 'WORKSPACE_ONLINE'::text);
    v_payloads := array_append(v_payloads, jsonb_build_object('recovered_from', v_status));
  END IF;
  IF v_new = 'online' AND v_state = 'wedged' THEN
    v_new := 'degraded';
    v_types := array_append(v_types, 'WORKSPACE_DEGRADED'::text);
    v_payloads := array_append(v_payloads, jsonb_build_object('runtime_state', v_state, 'sample_error', v_sample));
  ELSIF v_new = 'online' AND NOT v_mgmt AND v_rate >= 0.5 THEN
    v_new := 'degraded';
    v_types := array_append(v_types, 'WORKSPACE_DEGRADED'::text);
    v_payloads := array_append(v_payloads, jsonb_build_object('error_rate', v_rate, 'sample_error', v_sample));
  ELSIF v_new = 'degraded' AND NOT v_mgmt AND v_rate < 0.1 AND v_state = '' THEN
    v_new := 'online';
    v_types := array_append(v_types, 'WORKSPACE_ONLINE'::text);
    v_payloads := array_append(v_payloads, jsonb_build_object('recovered_from', 'degraded'));
  END IF;
  IF p_report ? 'current_task' AND p_report->>'current_task' IS DISTINCT FROM v_task THEN
    v_types := array_append(v_types, 'TASK_UPDATED'::text);
    v_payloads := array_append(v_payloads, jsonb_build_object('current_task', p_report->>'current_task',
                                                   'active_tasks', p_report->'active_tasks'));
  END IF;

  UPDATE workspaces w SET
      status = v_new,
      last_heartbeat_at = now(),
      active_tasks = COALESCE((p_report->>'active_tasks')::integer, w.active_tasks),
      current_task = COALESCE(p_report->>'current_task', w.current_task),
      error_rate = CASE WHEN p_report ? 'error_rate' THEN v_rate ELSE w.error_rate END,
      uptime_seconds = COALESCE((p_report->>'uptime_seconds')::bigint, w.uptime_seconds),
      runtime_state = CASE WHEN p_report ? 'runtime_state' THEN v_state ELSE w.runtime_state END,
      runtime_metadata = v_meta,
      -- A2.2: a zero (or clamped negative) spend is "nothing to report", never a reset.
      monthly_spend = CASE WHEN v_spend > 0 THEN v_spend ELSE w.monthly_spend END,
      last_sample_error = CASE WHEN v_sample IS NOT NULL THEN v_sample
                               WHEN v_status = 'degraded' AND v_new = 'online' THEN NULL
                               ELSE w.last_sample_error END,
      platform_inbound_secret = COALESCE(w.platform_inbound_secret, p_secret_enc),
      updated_at = now()
   WHERE w.id = p_workspace
  RETURNING w.platform_inbound_secret INTO v_secret;

  FOR i IN 1 .. coalesce(array_length(v_types, 1), 0) LOOP
    PERFORM record_workspace_event(v_types[i], p_workspace, v_payloads[i], NULL);
  END LOOP;
  RETURN QUERY SELECT v_new, v_secret;
END
$$;
