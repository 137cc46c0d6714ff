-- Idempotency-Key for POST /workspaces and POST /org/import: a retried request with the same key
-- gets the first answer instead of creating a second workspace or import. The answer is stored
-- sealed with the platform key (an external workspace's answer carries its auth_token, shown once);
-- only a sha256 of the request body is kept, to tell a retry from a different request under the key.
CREATE TABLE idempotency_keys (
  route        text NOT NULL,
  key          text NOT NULL CHECK (length(key) BETWEEN 1 AND 128),
  body_hash    text NOT NULL CHECK (body_hash ~ '^[0-9a-f]{64}$'),
  state        text NOT NULL CONSTRAINT idempotency_keys_state_check CHECK (state IN ('in_flight','completed')),
  status_code  integer CHECK (status_code BETWEEN 100 AND 599),
  answer_enc   text,
  created_at   timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz NOT NULL,
  PRIMARY KEY (route, key),
  CHECK (state = 'in_flight' OR (status_code IS NOT NULL AND answer_enc IS NOT NULL))
);
CREATE INDEX idempotency_keys_expires_idx ON idempotency_keys (expires_at);
