-- Minting a workspace's credentials in one round trip instead of six (BEGIN, lock, revoke, insert,
-- store inbound secret, COMMIT): the provision path makes this call under bursts, where every
-- sequential round trip waits for a CPU. It must stay a function, not one statement with CTEs: a
-- VOLATILE function takes a fresh snapshot per statement, so after waiting for the row lock the revoke
-- sees a token a concurrent mint just committed (a single statement's snapshot would predate it and
-- leave that token live).
CREATE FUNCTION mint_workspace_credentials(p_workspace uuid, p_token_hash text, p_inbound_secret_enc text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  PERFORM 1 FROM workspaces WHERE id = p_workspace FOR UPDATE;
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  UPDATE workspace_auth_tokens SET revoked_at = now() WHERE workspace_id = p_workspace AND revoked_at IS NULL;
  INSERT INTO workspace_auth_tokens (workspace_id, token_hash) VALUES (p_workspace, p_token_hash);
  UPDATE workspaces SET platform_inbound_secret = p_inbound_secret_enc, updated_at = now() WHERE id = p_workspace;
  RETURN true;
END
$$;
