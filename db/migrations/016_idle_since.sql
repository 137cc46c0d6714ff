-- The idle monitor (A10.4) measures idleness, not silence: a live agent heartbeats every interval, so
-- "last heartbeat older than hibernation_idle_minutes" would only ever find agents that are already
-- dead (and that the liveness pass moves offline first). idle_since is when the agent last became
-- idle: set when an online/degraded workspace reports no active task (from a busy report, or on coming
-- online), cleared while it reports work or is not online. One trigger keeps it for every writer
-- (register, heartbeat, pause, hibernate, sweeps), so no status function needs copying.
ALTER TABLE workspaces ADD COLUMN idle_since timestamptz;

CREATE FUNCTION track_idle_since() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.status NOT IN ('online', 'degraded') OR NEW.active_tasks > 0 THEN
    NEW.idle_since := NULL;
  ELSIF NEW.idle_since IS NULL OR OLD.active_tasks > 0 OR OLD.status NOT IN ('online', 'degraded') THEN
    NEW.idle_since := now();
  END IF;
  RETURN NEW;
END
$$;

CREATE TRIGGER workspaces_idle_since BEFORE UPDATE OF status, active_tasks ON workspaces
  FOR EACH ROW EXECUTE FUNCTION track_idle_since();

UPDATE workspaces SET idle_since = now() WHERE status IN ('online', 'degraded') AND active_tasks = 0;
