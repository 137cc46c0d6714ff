-- Self-healing (issue 17, SPEC-ADDENDUM A1.2, A9): a platform agent found dead (its heartbeats
-- stopped, or the engine says its container exited or its instance stopped) goes offline and is
-- restarted automatically, through the same coalesced restart workflow as a manual restart, at most
-- AUTO_RESTART_MAX_ATTEMPTS times within AUTO_RESTART_WINDOW_SECONDS; beyond that the workspace is
-- failed (crash loop) and waits for a person.
--
-- The budget lives on the row, not in a workflow, because the restart workflow ends between crashes.
--   offline_at:                   when a liveness pass last moved the row offline;
--   auto_restart_attempts:        automatic restarts claimed in the current window;
--   auto_restart_window_started_at: start of that window (NULL: no automatic restart yet);
--   auto_restart_seq:             one more per claim; the restart request carries it;
--   auto_restart_claimed_at:      when the last claim was made (a row offline since after it is due);
--   auto_restart_served_seq:      the last claim a restart cycle took up (seq > served: requested, not begun).
-- A manual restart resets the budget and invalidates a pending automatic one (reset_auto_restart).
ALTER TABLE workspaces
  ADD COLUMN offline_at timestamptz,
  ADD COLUMN auto_restart_attempts integer NOT NULL DEFAULT 0 CHECK (auto_restart_attempts BETWEEN 0 AND 1000),
  ADD COLUMN auto_restart_window_started_at timestamptz,
  ADD COLUMN auto_restart_seq integer NOT NULL DEFAULT 0 CHECK (auto_restart_seq >= 0),
  ADD COLUMN auto_restart_claimed_at timestamptz,
  ADD COLUMN auto_restart_served_seq integer NOT NULL DEFAULT 0 CHECK (auto_restart_served_seq >= 0);

-- A9.4: never under a paused (or hibernated) ancestor. The CYCLE clause ends the walk on a corrupt
-- parent chain made by hand.
CREATE FUNCTION workspace_ancestor_paused(p_workspace uuid) RETURNS boolean
LANGUAGE sql STABLE AS $$
  WITH RECURSIVE up AS (
    SELECT w.parent_id AS id FROM workspaces w WHERE w.id = p_workspace AND w.parent_id IS NOT NULL
    UNION ALL
    SELECT w.parent_id FROM workspaces w JOIN up ON w.id = up.id WHERE w.parent_id IS NOT NULL
  ) CYCLE id SET in_cycle USING path
  SELECT EXISTS (
    SELECT 1 FROM up JOIN workspaces a ON a.id = up.id
     WHERE NOT up.in_cycle AND a.status IN ('paused', 'hibernated', 'hibernating'))
$$;

-- Claims one automatic restart, under the row lock, and records it. p_trigger:
--   'dead':         a liveness pass found the agent dead; the row must be offline since after the
--                   last claim (so one death is claimed once, however many passes see it);
--   'cycle_failed': the automatic cycle p_served_seq failed (its provision failed the row); the
--                   restart workflow asks for the next attempt itself.
-- Outcomes: 'restart' (attempt, seq, delay_seconds: p_backoff_base * 2^(attempt-1), at most
-- p_backoff_max), 'exhausted' (the row is now failed with p_reason, WORKSPACE_CRASH_LOOP), 'skip'
-- (external, not offline/failed any more, removed, paused, hibernated, or under a paused ancestor).
CREATE FUNCTION claim_auto_restart(
  p_workspace uuid,
  p_trigger text,
  p_served_seq integer,
  p_max integer,
  p_window_secs integer,
  p_backoff_base integer,
  p_backoff_max integer,
  p_reason text
) RETURNS TABLE (outcome text, attempt integer, seq integer, delay_seconds integer)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  r record;
  v_attempts integer;
  v_window timestamptz;
  v_seq integer;
  v_delay integer;
BEGIN
  IF p_trigger NOT IN ('dead', 'cycle_failed') THEN
    RAISE EXCEPTION 'claim_auto_restart: trigger % not known', p_trigger;
  END IF;
  SELECT w.status, w.runtime, w.offline_at, w.auto_restart_attempts, w.auto_restart_window_started_at,
         w.auto_restart_seq, w.auto_restart_claimed_at, w.auto_restart_served_seq
    INTO r FROM workspaces w WHERE w.id = p_workspace FOR UPDATE;
  IF NOT FOUND OR r.runtime = 'external' THEN
    RETURN QUERY SELECT 'skip'::text, 0, 0, 0;
    RETURN;
  END IF;
  IF p_trigger = 'dead' AND (r.status <> 'offline'
      OR (r.auto_restart_claimed_at IS NOT NULL AND r.auto_restart_claimed_at >= COALESCE(r.offline_at, '-infinity'::timestamptz))) THEN
    RETURN QUERY SELECT 'skip'::text, 0, 0, 0;
    RETURN;
  END IF;
  IF p_trigger = 'cycle_failed' AND (r.status NOT IN ('failed', 'offline')
      OR r.auto_restart_seq <> p_served_seq OR r.auto_restart_served_seq <> p_served_seq) THEN
    RETURN QUERY SELECT 'skip'::text, 0, 0, 0;
    RETURN;
  END IF;
  IF workspace_ancestor_paused(p_workspace) THEN
    RETURN QUERY SELECT 'skip'::text, 0, 0, 0;
    RETURN;
  END IF;

  v_window := r.auto_restart_window_started_at;
  v_attempts := r.auto_restart_attempts;
  IF v_window IS NULL OR v_window < now() - make_interval(secs => p_window_secs) THEN
    v_window := now();
    v_attempts := 0;
  END IF;
  v_attempts := v_attempts + 1;

  IF v_attempts > p_max THEN
    UPDATE workspaces w SET status = 'failed', last_sample_error = p_reason,
           auto_restart_claimed_at = now(), auto_restart_served_seq = w.auto_restart_seq, updated_at = now()
     WHERE w.id = p_workspace;
    PERFORM record_workspace_event('WORKSPACE_CRASH_LOOP', p_workspace,
      jsonb_build_object('error', p_reason, 'attempts', p_max, 'window_seconds', p_window_secs, 'previous_status', r.status),
      'crash-loop:' || p_workspace || ':' || r.auto_restart_seq);
    RETURN QUERY SELECT 'exhausted'::text, p_max, r.auto_restart_seq, 0;
    RETURN;
  END IF;

  v_delay := LEAST(p_backoff_max::bigint, p_backoff_base::bigint * (2 ^ LEAST(v_attempts - 1, 20))::bigint)::integer;
  UPDATE workspaces w SET auto_restart_attempts = v_attempts, auto_restart_window_started_at = v_window,
         auto_restart_seq = w.auto_restart_seq + 1, auto_restart_claimed_at = now()
   WHERE w.id = p_workspace
  RETURNING w.auto_restart_seq INTO v_seq;
  PERFORM record_workspace_event('WORKSPACE_AUTO_RESTART', p_workspace,
    jsonb_build_object('attempt', v_attempts, 'max_attempts', p_max, 'delay_seconds', v_delay, 'trigger', p_trigger),
    'auto-restart:' || p_workspace || ':' || v_seq);
  RETURN QUERY SELECT 'restart'::text, v_attempts, v_seq, v_delay;
END
$$;

-- The restart workflow takes up claim p_seq right before its cycle: only if it is still the newest
-- claim, not taken up yet, and the row still needs it (offline or failed, not external, no paused
-- ancestor). False: a heartbeat brought the agent back, a person restarted, paused or deleted it.
CREATE FUNCTION begin_auto_restart(p_workspace uuid, p_seq integer) RETURNS boolean
LANGUAGE sql VOLATILE AS $$
  WITH taken AS (
    UPDATE workspaces w SET auto_restart_served_seq = p_seq
     WHERE w.id = p_workspace AND w.auto_restart_seq = p_seq AND w.auto_restart_served_seq < p_seq
       AND w.status IN ('offline', 'failed') AND w.runtime <> 'external'
       AND NOT workspace_ancestor_paused(p_workspace)
    RETURNING 1)
  SELECT EXISTS (SELECT 1 FROM taken)
$$;

-- A manual restart: a fresh budget, and any automatic restart still pending is void.
CREATE FUNCTION reset_auto_restart(p_workspace uuid) RETURNS void
LANGUAGE sql VOLATILE AS $$
  UPDATE workspaces w SET auto_restart_attempts = 0, auto_restart_window_started_at = NULL,
         auto_restart_seq = w.auto_restart_seq + 1, auto_restart_served_seq = w.auto_restart_seq + 1
   WHERE w.id = p_workspace
$$;

CREATE INDEX workspaces_offline_idx ON workspaces (id) WHERE status = 'offline';
