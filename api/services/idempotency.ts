// Idempotency-Key for the creating routes (POST /workspaces, POST /org/import): a client that did not
// hear the answer (timeout, dropped connection) retries with the same key and gets the first answer,
// status and body alike, instead of a second workspace or import. Route hooks, so a route handler
// stays as it is: the preHandler claims the key or answers from it, onSend stores what was sent.
import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { WorkspaceStore } from '../../activities/workspace-store';
import { DomainError } from '../../domain/errors';

export const IDEMPOTENCY_HEADER = 'idempotency-key';
/** Printable, header-safe and log-safe: a UUID, a ULID or base64 fit; nothing that needs escaping. */
export const IDEMPOTENCY_KEY_PATTERN = /^[A-Za-z0-9._:+/=-]{1,128}$/;
/** A key answers retries for 24 hours after its first use; then it is forgotten and may be reused. */
export const IDEMPOTENCY_TTL_SECONDS = 24 * 60 * 60;
/**
 * A key still marked in flight after this long belongs to a request whose API process died; a retry
 * then runs the request again (the longest request, an external workspace waiting for its token,
 * gives up after 15 s).
 */
export const IDEMPOTENCY_ABANDON_SECONDS = 2 * 60;

/** For the OpenAPI description of a route that takes the header. */
export const IDEMPOTENCY_DESCRIPTION =
  'Accepts an Idempotency-Key header (1-128 characters from A-Z a-z 0-9 . _ : + / = -): a retry with the same key and body within 24 h ' +
  'gets the first answer (header idempotent-replayed: true) and creates nothing; the same key with another body is a 422 ' +
  '(IDEMPOTENCY_KEY_REUSED), and while the first request still runs a 409 (IDEMPOTENCY_KEY_IN_FLIGHT).';

type Store = Pick<WorkspaceStore, 'claimIdempotencyKey' | 'completeIdempotencyKey' | 'releaseIdempotencyKey'>;

export function idempotencyHooks(store: Store, route: string) {
  const owned = new WeakMap<FastifyRequest, string>();

  async function preHandler(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> {
    const key = request.headers[IDEMPOTENCY_HEADER];
    if (key === undefined) return undefined;
    // Repeated headers arrive joined with ", ", which the pattern refuses as well.
    if (typeof key !== 'string' || !IDEMPOTENCY_KEY_PATTERN.test(key)) {
      throw new DomainError('INVALID_IDEMPOTENCY_KEY', 400, 'Idempotency-Key must be 1 to 128 characters from A-Z a-z 0-9 . _ : + / = -');
    }
    // The validated body: the same request always hashes alike, whatever its whitespace.
    const bodyHash = createHash('sha256').update(`${route}\n${JSON.stringify(request.body ?? null)}`).digest('hex');
    const claim = await store.claimIdempotencyKey({ route, key, bodyHash, ttlSeconds: IDEMPOTENCY_TTL_SECONDS, abandonAfterSeconds: IDEMPOTENCY_ABANDON_SECONDS });
    switch (claim.outcome) {
      case 'claimed':
        owned.set(request, key);
        return undefined;
      case 'other_body':
        throw new DomainError('IDEMPOTENCY_KEY_REUSED', 422, 'this Idempotency-Key was already used with a different request body');
      case 'in_flight':
        throw new DomainError('IDEMPOTENCY_KEY_IN_FLIGHT', 409, 'a request with this Idempotency-Key is still running; retry when it has answered');
      case 'completed':
        // The stored text is what the first request was sent: no second serialization.
        return reply
          .status(claim.statusCode)
          .header('content-type', 'application/json; charset=utf-8')
          .header('idempotent-replayed', 'true')
          .serializer((payload: unknown) => String(payload))
          .send(claim.answer);
    }
  }

  async function onSend(request: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<unknown> {
    const key = owned.get(request);
    if (key === undefined) return payload;
    owned.delete(request);
    // An unexpected 5xx happened before anything was created (POST /workspaces answers 503 once its row
    // exists): forget the key so a retry runs again. Every other answer is the one retries get.
    if (reply.statusCode >= 500 && reply.statusCode !== 503) await store.releaseIdempotencyKey({ route, key });
    else await store.completeIdempotencyKey({ route, key, statusCode: reply.statusCode, answer: typeof payload === 'string' ? payload : JSON.stringify(payload ?? null) });
    return payload;
  }

  return { preHandler, onSend };
}
