// The OpenAPI contract's common ground: every answer a route can give is in the document (issue 18).
// Routes declare their own answers (2xx and the domain errors they throw); this adds the ones every
// route of a kind shares, so no route can forget them:
//   400 malformed URL or a request that fails its schema (every route);
//   401 missing or wrong bearer token (every route that does not declare `security: []`);
//   413 body over the limit and 415 a content type other than JSON (every method that takes a body);
//   503 Postgres unavailable (every route that reads the database: all but the public ones).
// It also answers 405 with an Allow header for a known path asked with a method it does not have, and
// fixes up the generated document (optional request bodies, 204s without content).
import type { SwaggerTransformObject } from '@fastify/swagger';
import type { FastifyInstance, FastifyReply, RouteOptions } from 'fastify';
import type { z } from 'zod';
import { errorResponse } from './schemas';

type ResponseMap = Record<string, unknown>;
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

interface RouteSchemaLike {
  security?: unknown[];
  params?: unknown;
  body?: z.ZodType;
  response?: ResponseMap;
  hide?: boolean;
}

function methodsOf(route: RouteOptions): string[] {
  return (Array.isArray(route.method) ? route.method : [route.method]).map((m) => m.toUpperCase());
}

/** The answers every route of its kind can give, for the codes it does not declare itself. */
function sharedAnswers(route: RouteOptions, schema: RouteSchemaLike): ResponseMap {
  const isPublic = Array.isArray(schema.security) && schema.security.length === 0;
  const answers: ResponseMap = { 400: errorResponse };
  if (!isPublic) Object.assign(answers, { 401: errorResponse, 503: errorResponse });
  if (methodsOf(route).some((m) => BODY_METHODS.has(m))) Object.assign(answers, { 413: errorResponse, 415: errorResponse });
  return answers;
}

/** `/workspaces/:id/files` -> a matcher for concrete paths (parameters are one non-empty segment). */
function pathMatcher(url: string): RegExp {
  const source = url
    .split('/')
    .map((seg) => (seg.startsWith(':') ? '[^/]{1,200}' : seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('/');
  return new RegExp(`^${source}$`);
}

export interface Contract {
  /** Request bodies that may be left out: the document says `required: false` for them. */
  optionalBodies: Set<string>;
  /** The methods a concrete path is served with; empty when the path is unknown. */
  allowedMethods(path: string): string[];
}

export function installContract(app: FastifyInstance): Contract {
  const optionalBodies = new Set<string>();
  const paths: Array<{ match: RegExp; methods: Set<string> }> = [];

  app.addHook('onRoute', (route) => {
    const methods = methodsOf(route);
    const known = paths.find((p) => p.match.source === pathMatcher(route.url).source);
    if (known) methods.forEach((m) => known.methods.add(m));
    else paths.push({ match: pathMatcher(route.url), methods: new Set(methods) });

    const schema = route.schema as RouteSchemaLike | undefined;
    if (!schema || schema.hide) return;
    schema.response = { ...sharedAnswers(route, schema), ...(schema.response ?? {}) };
    if (schema.body && schema.body.safeParse(undefined).success) {
      for (const m of methods) optionalBodies.add(`${m.toLowerCase()} ${openApiPath(route.url)}`);
    }
  });

  return {
    optionalBodies,
    allowedMethods(path) {
      const methods = new Set<string>();
      for (const p of paths) if (p.match.test(path)) p.methods.forEach((m) => methods.add(m));
      return [...methods].sort();
    },
  };
}

/** `/workspaces/:id` -> `/workspaces/{id}`, as @fastify/swagger writes paths. */
function openApiPath(url: string): string {
  return url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

interface OperationLike {
  requestBody?: { required?: boolean };
  responses?: Record<string, { content?: unknown }>;
}

/** swagger's transformObject: request bodies that may be omitted, and 204s that carry nothing. */
export function finishDocument(contract: Contract): SwaggerTransformObject {
  return (document) => {
    if (!('openapiObject' in document)) return document.swaggerObject;
    const { openapiObject } = document;
    const paths = (openapiObject.paths ?? {}) as Record<string, Record<string, OperationLike>>;
    for (const [path, operations] of Object.entries(paths)) {
      for (const [method, op] of Object.entries(operations)) {
        if (op.requestBody && contract.optionalBodies.has(`${method} ${path}`)) op.requestBody.required = false;
        const noContent = op.responses?.['204'];
        if (noContent) delete noContent.content;
      }
    }
    return openapiObject;
  };
}

/** 405 for a known path asked with a method it does not have (RFC 9110: with Allow); else 404. */
export function notFoundOrNotAllowed(contract: Contract) {
  return (path: string, reply: FastifyReply) => {
    const allowed = contract.allowedMethods(path);
    if (allowed.length > 0) {
      return reply.status(405).header('allow', allowed.join(', ')).send({ error: 'method not allowed', code: 'METHOD_NOT_ALLOWED' });
    }
    return reply.status(404).send({ error: 'route not found', code: 'ROUTE_NOT_FOUND' });
  };
}
