// One place that turns every error into a stable JSON body `{ error, code, details? }`. Validation
// errors list fields and reasons (never the rejected values); anything unexpected is an opaque 500
// carrying the request id that also appears in the logs.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { DomainError } from '../domain/errors';

export interface ErrorBody {
  error: string;
  code: string;
  details?: unknown;
  request_id?: string;
}

/** Fastify's own 4xx codes, mapped to fixed messages (their texts can quote the request). */
const FASTIFY_4XX: Record<string, { status: number; error: string; code: string }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, error: 'request body too large (limit 1 MiB)', code: 'BODY_TOO_LARGE' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 415, error: 'unsupported content type; send application/json', code: 'UNSUPPORTED_MEDIA_TYPE' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, error: 'request body is empty', code: 'INVALID_BODY' },
  FST_ERR_CTP_INVALID_JSON_BODY: { status: 400, error: 'request body is not valid JSON', code: 'INVALID_BODY' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { status: 400, error: 'invalid content length', code: 'INVALID_BODY' },
};

function sanitizedPath(context: string | undefined, instancePath: string): string {
  const path = instancePath
    .split('/')
    .filter(Boolean)
    .map((seg) => (/^[A-Za-z0-9_]{1,64}$/.test(seg) ? seg : '?'))
    .join('.');
  return [context ?? 'request', path].filter(Boolean).join('.');
}

export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError | Error, request: FastifyRequest, reply: FastifyReply) => {
    if (hasZodFastifySchemaValidationErrors(err)) {
      const context = (err as FastifyError).validationContext;
      const details = err.validation.map((v) => ({
        field: sanitizedPath(context, v.instancePath),
        message: v.message ?? 'invalid value',
      }));
      return reply.status(400).send({ error: 'invalid request', code: 'VALIDATION_FAILED', details } satisfies ErrorBody);
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
    request.log.error({ err }, 'unhandled error');
    return reply.status(500).send({ error: 'internal error', code: 'INTERNAL', request_id: request.id } satisfies ErrorBody);
  });
  app.setNotFoundHandler((_request, reply) => {
    reply.status(404).send({ error: 'route not found', code: 'ROUTE_NOT_FOUND' } satisfies ErrorBody);
  });
}

export const notFound = (what: string) => new DomainError('NOT_FOUND', 404, `${what} not found`);
export const unauthorized = () => new DomainError('UNAUTHORIZED', 401, 'missing or invalid bearer token');
