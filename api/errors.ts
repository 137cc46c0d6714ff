// One place that turns every error into a stable JSON body `{ error, code, details? }`. Validation
// errors list fields and reasons (never the rejected values); anything unexpected is an opaque 500
// carrying the request id that also appears in the logs.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { SecretsKeyMissingError } from '../activities/crypto';
import { DomainError } from '../domain/errors';
import { BODY_LIMIT_BYTES, describeBytes } from './limits';
import { postgresUnavailableCheck } from './services/postgres-unavailable';
import { SCHEMA_FIELD_NAMES } from './schemas';

export interface ErrorBody {
  error: string;
  code: string;
  details?: unknown;
  request_id?: string;
}

/** Fastify's own 4xx codes, mapped to fixed messages (their texts can quote the request). */
const FASTIFY_4XX: Record<string, { status: number; error: string; code: string }> = {
  INVALID_UTF8: { status: 400, error: 'request body is not valid UTF-8', code: 'INVALID_BODY' },
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, error: `request body too large (limit ${describeBytes(BODY_LIMIT_BYTES)})`, code: 'BODY_TOO_LARGE' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 415, error: 'unsupported content type; send application/json', code: 'UNSUPPORTED_MEDIA_TYPE' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, error: 'request body is empty', code: 'INVALID_BODY' },
  FST_ERR_CTP_INVALID_JSON_BODY: { status: 400, error: 'request body is not valid JSON', code: 'INVALID_BODY' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { status: 400, error: 'invalid content length', code: 'INVALID_BODY' },
};

/**
 * A field path names only what the API's schemas define: indexes and schema keys are kept, anything
 * else (a caller-chosen record key such as a secret name) becomes `*`, so no input is echoed.
 */
function sanitizedPath(context: string | undefined, instancePath: string): string {
  const path = instancePath
    .split('/')
    .filter(Boolean)
    .map((seg) => (/^\d{1,6}$/.test(seg) || SCHEMA_FIELD_NAMES.has(seg) ? seg : '*'))
    .join('.');
  return [context ?? 'request', path].filter(Boolean).join('.');
}

/**
 * JSON bodies must be valid UTF-8: Node's default decoding silently turns bad bytes into U+FFFD, which
 * would let malformed names through. The parse itself is Fastify's (prototype-poisoning protection).
 * An empty body is no body, not a 400.
 */
export function installStrictJsonParser(app: FastifyInstance): void {
  const parseJson = app.getDefaultJsonParser('error', 'error');
  // ignoreBOM keeps a BOM in the text so the JSON parser treats it exactly as Fastify's default path does.
  const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    const charset = /charset=([^;\s]+)/i.exec(String(request.headers['content-type'] ?? ''))?.[1]?.toLowerCase();
    if (charset && charset !== 'utf-8' && charset !== 'utf8') {
      return done(Object.assign(new Error('unsupported charset'), { statusCode: 415, code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE' }), undefined);
    }
    // An empty body under this content type is no body (issue 18): many clients send the header on a
    // DELETE or a body-less POST. The route's schema then decides, as for a request without the header.
    if ((body as Buffer).length === 0) return done(null, undefined);
    let text: string;
    try {
      text = utf8.decode(body as Buffer);
    } catch {
      return done(Object.assign(new Error('invalid utf-8'), { statusCode: 400, code: 'INVALID_UTF8' }), undefined);
    }
    parseJson(request, text, done);
  });
}

export function installErrorHandling(
  app: FastifyInstance,
  opts: { databaseUrl: string; notFound?: (path: string, reply: FastifyReply) => FastifyReply },
): void {
  const postgresUnavailable = postgresUnavailableCheck(opts.databaseUrl);
  app.setErrorHandler((err: FastifyError | Error, request: FastifyRequest, reply: FastifyReply) => {
    // A request for no route fails before the not-found handler (e.g. QUERY without a content type): it still gets 404/405.
    if (request.is404 && opts.notFound) return opts.notFound(request.url.split('?')[0], reply);
    if (hasZodFastifySchemaValidationErrors(err)) {
      const context = (err as FastifyError).validationContext;
      const details = err.validation.map((v) => ({
        field: sanitizedPath(context, v.instancePath),
        message: v.message ?? 'invalid value',
      }));
      return reply.status(400).send({ error: 'invalid request', code: 'VALIDATION_FAILED', details } satisfies ErrorBody);
    }
    if (err instanceof SecretsKeyMissingError) {
      const missing = secretsKeyMissing();
      return reply.status(missing.httpStatus).send({ error: missing.message, code: missing.code } satisfies ErrorBody);
    }
    if (err instanceof DomainError) {
      return reply.status(err.httpStatus).send({ error: err.message, code: err.code, ...(err.details ? err.details : {}) });
    }
    const fastifyCode = (err as FastifyError).code;
    const mapped = fastifyCode ? FASTIFY_4XX[fastifyCode] : undefined;
    if (mapped) return reply.status(mapped.status).send({ error: mapped.error, code: mapped.code } satisfies ErrorBody);
    const status = (err as FastifyError).statusCode;
    if (status && status >= 400 && status < 500) {
      return reply.status(status).send({ error: 'bad request', code: 'BAD_REQUEST' } satisfies ErrorBody);
    }
    if (postgresUnavailable(err)) {
      // A14.1: no database detail in the answer; the log has it.
      request.log.warn({ err }, 'postgres unavailable');
      return reply.status(503).send({ error: 'the platform is unavailable; retry later', code: 'platform_unavailable' } satisfies ErrorBody);
    }
    request.log.error({ err }, 'unhandled error');
    return reply.status(500).send({ error: 'internal error', code: 'INTERNAL', request_id: request.id } satisfies ErrorBody);
  });
  app.setNotFoundHandler((request, reply) => {
    if (opts.notFound) return opts.notFound(request.url.split('?')[0], reply);
    return reply.status(404).send({ error: 'route not found', code: 'ROUTE_NOT_FOUND' } satisfies ErrorBody);
  });
}

export const notFound = (what: string) => new DomainError('NOT_FOUND', 404, `${what} not found`);
/** 503: the route must seal or open a secret and the platform has no SECRETS_KEY (a setup problem, not the caller's). */
export const secretsKeyMissing = () =>
  new DomainError('SECRETS_KEY_MISSING', 503, 'secrets are unavailable: the platform has no SECRETS_KEY configured');
export const unauthorized = () => new DomainError('UNAUTHORIZED', 401, 'missing or invalid bearer token');

/**
 * 410 for a removed workspace. Admin routes pass the row, so the answer says when and how to read it
 * anyway; agents get the bare answer.
 */
export function workspaceRemoved(row?: { id: string; removed_at: Date | null }): DomainError {
  return new DomainError(
    'WORKSPACE_REMOVED',
    410,
    'workspace removed',
    row && {
      id: row.id,
      removed_at: row.removed_at ? row.removed_at.toISOString() : null,
      hint: 'this workspace was deleted; pass ?include_removed=true to read it',
    },
  );
}
