-- 011's register_agent, plus one guard: a paused, hibernating or hibernated workspace is not brought
-- online by a registration (outcome 'paused', answered 409). Pause and hibernation revoke every token,
-- so only a token minted afterwards (POST /workspaces/:id/tokens) could reach here; its agent waits
-- for /resume or /wake like everyone else. Unchanged otherwise.
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
  IF v_status IN ('paused', 'hibernating', 'hibernated') THEN
    RETURN QUERY SELECT 'paused'::text, NULL::text, NULL::text, NULL::text;
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
