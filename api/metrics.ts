// Prometheus metrics of the API process (issue 18): requests by route pattern and status, their latency,
// errors by the `code` of their body, workflow starts and signals by type, plus Node's process metrics.
// Each app has a registry of its own (tests build several apps in one process). GET /metrics answers
// the text format to a bearer of METRICS_TOKEN or ADMIN_TOKEN, on the API's own port.
import { Client, WorkflowExecutionAlreadyStartedError, type WorkflowClientInterceptor } from '@temporalio/client';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';
import { constantTimeEqual } from '../activities/crypto';
import { bearerToken } from './auth';
import { unauthorized } from './errors';

/** Seconds; from a cache hit (a few ms) to a hibernate the route waits for (tens of seconds). */
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** A request no route matched is counted under this one route label: raw URLs would be unbounded. */
export const UNMATCHED_ROUTE = 'unmatched';

export interface ApiMetrics {
  registry: Registry;
  requests: Counter<'method' | 'route' | 'status'>;
  latency: Histogram<'method' | 'route' | 'status'>;
  errors: Counter<'code' | 'status'>;
  workflowStarts: Counter<'workflow_type' | 'via' | 'result'>;
  workflowSignals: Counter<'signal' | 'via' | 'result'>;
}

export function createApiMetrics(): ApiMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    requests: new Counter({
      name: 'molecule_api_requests_total',
      help: 'HTTP requests answered, by method, route pattern and status code',
      labelNames: ['method', 'route', 'status'],
      registers: [registry],
    }),
    latency: new Histogram({
      name: 'molecule_api_request_duration_seconds',
      help: 'Time from receiving a request to sending its answer, by method, route pattern and status code',
      labelNames: ['method', 'route', 'status'],
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    errors: new Counter({
      name: 'molecule_api_errors_total',
      help: 'Error answers (4xx and 5xx) by the code of their body and status code',
      labelNames: ['code', 'status'],
      registers: [registry],
    }),
    workflowStarts: new Counter({
      name: 'molecule_api_workflow_starts_total',
      help: 'Workflow starts the API asked Temporal for, by workflow type, how (start, signal_with_start, update_with_start) and result (ok, already_started, error)',
      labelNames: ['workflow_type', 'via', 'result'],
      registers: [registry],
    }),
    workflowSignals: new Counter({
      name: 'molecule_api_workflow_signals_total',
      help: 'Signals the API sent to workflows, by signal name, how (signal, signal_with_start) and result (ok, error)',
      labelNames: ['signal', 'via', 'result'],
      registers: [registry],
    }),
  };
}

function resultOf(err: unknown): 'already_started' | 'error' {
  return err instanceof WorkflowExecutionAlreadyStartedError ? 'already_started' : 'error';
}

/** Counts every start and signal that goes through the client, whichever service sent it. */
export function workflowMetricsInterceptor(m: ApiMetrics): WorkflowClientInterceptor {
  return {
    async startWithDetails(input, next) {
      try {
        const out = await next(input);
        m.workflowStarts.inc({ workflow_type: input.workflowType, via: 'start', result: 'ok' });
        return out;
      } catch (err) {
        m.workflowStarts.inc({ workflow_type: input.workflowType, via: 'start', result: resultOf(err) });
        throw err;
      }
    },
    async signalWithStart(input, next) {
      try {
        const out = await next(input);
        m.workflowStarts.inc({ workflow_type: input.workflowType, via: 'signal_with_start', result: 'ok' });
        m.workflowSignals.inc({ signal: input.signalName, via: 'signal_with_start', result: 'ok' });
        return out;
      } catch (err) {
        m.workflowStarts.inc({ workflow_type: input.workflowType, via: 'signal_with_start', result: resultOf(err) });
        m.workflowSignals.inc({ signal: input.signalName, via: 'signal_with_start', result: 'error' });
        throw err;
      }
    },
    async startUpdateWithStart(input, next) {
      try {
        const out = await next(input);
        m.workflowStarts.inc({ workflow_type: input.workflowType, via: 'update_with_start', result: 'ok' });
        return out;
      } catch (err) {
        m.workflowStarts.inc({ workflow_type: input.workflowType, via: 'update_with_start', result: resultOf(err) });
        throw err;
      }
    },
    async signal(input, next) {
      try {
        await next(input);
        m.workflowSignals.inc({ signal: input.signalName, via: 'signal', result: 'ok' });
      } catch (err) {
        m.workflowSignals.inc({ signal: input.signalName, via: 'signal', result: 'error' });
        throw err;
      }
    },
  };
}

/** A client on the same connection and namespace whose starts and signals are counted. */
export function countedClient(client: Client, m: ApiMetrics): Client {
  return new Client({
    connection: client.connection,
    namespace: client.options.namespace,
    dataConverter: client.options.dataConverter,
    interceptors: { ...client.options.interceptors, workflow: [...workflowInterceptorList(client), workflowMetricsInterceptor(m)] },
  });
}

function workflowInterceptorList(client: Client): WorkflowClientInterceptor[] {
  const existing = client.options.interceptors?.workflow;
  return Array.isArray(existing) ? existing : [];
}

function routeOf(request: FastifyRequest): string {
  return request.routeOptions?.url ?? UNMATCHED_ROUTE;
}

/** The `code` of an error answer's JSON body; `none` when it has none. */
function errorCode(payload: unknown): string {
  if (typeof payload !== 'string' || payload.length > 64 * 1024) return 'none';
  try {
    const code = (JSON.parse(payload) as { code?: unknown }).code;
    return typeof code === 'string' && /^[A-Za-z0-9_.-]{1,64}$/.test(code) ? code : 'none';
  } catch {
    return 'none';
  }
}

/**
 * Hooks that count every answer and the GET /metrics route. Registered before the routes, so every
 * route (and the not-found handler) is counted. /metrics is hidden from the OpenAPI document: it is for
 * the scraper, not for API clients.
 */
export function installApiMetrics(app: FastifyInstance, m: ApiMetrics, tokens: { adminToken: string; metricsToken: string }): void {
  app.addHook('onSend', async (request, reply, payload) => {
    if (reply.statusCode >= 400) m.errors.inc({ code: errorCode(payload), status: String(reply.statusCode) });
    return payload;
  });
  app.addHook('onResponse', async (request, reply) => {
    const labels = { method: request.method, route: routeOf(request), status: String(reply.statusCode) };
    m.requests.inc(labels);
    m.latency.observe(labels, reply.elapsedTime / 1000);
  });
  const allowed = [tokens.metricsToken, tokens.adminToken].filter((t) => t !== '');
  app.get(
    '/metrics',
    {
      schema: { hide: true },
      onRequest: async (request) => {
        const token = bearerToken(request);
        if (!token || !allowed.some((t) => constantTimeEqual(token, t))) throw unauthorized();
      },
    },
    async (_request, reply) => {
      const text = await m.registry.metrics();
      return reply.type(m.registry.contentType).send(text);
    },
  );
}
