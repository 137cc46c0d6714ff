// Idempotency keys (migration 006): which request a key was first used for, and its sealed answer.
// The API's Idempotency-Key handling (api/services/idempotency.ts) is the only caller.
import type { Pool } from 'pg';
import type { IdempotencyState } from '../../domain/vocabulary';
import type { SecretBox } from '../crypto';

export type IdempotencyClaim =
  | { outcome: 'claimed' }
  | { outcome: 'other_body' }
  | { outcome: 'in_flight' }
  | { outcome: 'completed'; statusCode: number; answer: string };

export function createIdempotencyStore(pool: Pool, box: SecretBox) {
  return {
    /**
     * Claims (route, key) for a request with this body hash, or tells what holds it. Expired keys are
     * dropped first (this key's, plus a bounded batch of others); an in-flight claim older than
     * `abandonAfterSeconds` (its API process died mid-request) is taken over.
     */
    async claimIdempotencyKey(input: { route: string; key: string; bodyHash: string; ttlSeconds: number; abandonAfterSeconds: number }): Promise<IdempotencyClaim> {
      await pool.query(
        `DELETE FROM idempotency_keys WHERE ctid IN (SELECT ctid FROM idempotency_keys WHERE expires_at < now() LIMIT 100)
            OR (route = $1 AND key = $2 AND expires_at < now())`,
        [input.route, input.key],
      );
      const { rows } = await pool.query<{ claimed: boolean; body_hash: string; state: IdempotencyState; status_code: number | null; answer_enc: string | null }>(
        `WITH claimed AS (
           INSERT INTO idempotency_keys (route, key, body_hash, state, expires_at)
           VALUES ($1, $2, $3, 'in_flight', now() + make_interval(secs => $4))
           ON CONFLICT (route, key) DO UPDATE SET created_at = now(), expires_at = EXCLUDED.expires_at
             WHERE idempotency_keys.state = 'in_flight' AND idempotency_keys.body_hash = EXCLUDED.body_hash
               AND idempotency_keys.created_at < now() - make_interval(secs => $5)
           RETURNING true AS claimed, body_hash, state, status_code, answer_enc)
         SELECT * FROM claimed
         UNION ALL
         SELECT false, body_hash, state, status_code, answer_enc FROM idempotency_keys
          WHERE route = $1 AND key = $2 AND NOT EXISTS (SELECT 1 FROM claimed)`,
        [input.route, input.key, input.bodyHash, input.ttlSeconds, input.abandonAfterSeconds],
      );
      const row = rows[0];
      // Neither inserted nor found: the holder released it between the two halves; the caller retries.
      if (!row) return { outcome: 'in_flight' };
      if (row.claimed) return { outcome: 'claimed' };
      if (row.body_hash !== input.bodyHash) return { outcome: 'other_body' };
      if (row.state === 'in_flight' || row.status_code === null || row.answer_enc === null) return { outcome: 'in_flight' };
      return { outcome: 'completed', statusCode: row.status_code, answer: box.open(row.answer_enc) };
    },

    async completeIdempotencyKey(input: { route: string; key: string; statusCode: number; answer: string }): Promise<void> {
      await pool.query(
        `UPDATE idempotency_keys SET state = 'completed', status_code = $3, answer_enc = $4
          WHERE route = $1 AND key = $2 AND state = 'in_flight'`,
        [input.route, input.key, input.statusCode, box.seal(input.answer)],
      );
    },

    /** The request failed before it could have created anything: a retry with the key runs it again. */
    async releaseIdempotencyKey(input: { route: string; key: string }): Promise<void> {
      await pool.query(`DELETE FROM idempotency_keys WHERE route = $1 AND key = $2 AND state = 'in_flight'`, [input.route, input.key]);
    },
  };
}
