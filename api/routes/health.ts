// Liveness and readiness. /readyz checks every dependency and says which one failed (503).
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ApiDeps } from '../app';
import { resultWithin } from '../services/result-within';

const CHECK_TIMEOUT_MS = 3000;

/** A probe that throws or does not answer in time has failed. */
async function check(fn: () => Promise<unknown>): Promise<'ok' | 'failed'> {
  try {
    return (await resultWithin(fn().then(() => 'ok' as const), CHECK_TIMEOUT_MS)) ?? 'failed';
  } catch {
    return 'failed';
  }
}

const readyResponse = z.object({ status: z.enum(['ready', 'unavailable']), checks: z.record(z.string(), z.enum(['ok', 'failed'])) });

export const healthRoutes =
  (deps: ApiDeps): FastifyPluginAsyncZod =>
  async (app) => {
    app.get('/healthz', { schema: { tags: ['health'], response: { 200: z.object({ status: z.literal('ok') }) } } }, async () => ({
      status: 'ok' as const,
    }));

    app.get('/readyz', { schema: { tags: ['health'], response: { 200: readyResponse, 503: readyResponse } } }, async (_req, reply) => {
      const probes: Record<string, () => Promise<unknown>> = {
        postgres: () => deps.store.pool.query('SELECT 1'),
        temporal: () => deps.temporal.workflowService.getSystemInfo({}),
      };
      if (deps.compute.docker) probes.docker = () => deps.compute.docker!.ping();
      if (deps.compute.ec2) probes.ec2 = () => deps.compute.ec2!.ping();
      const names = Object.keys(probes);
      const results = await Promise.all(names.map((n) => check(probes[n])));
      const checks = Object.fromEntries(names.map((n, i) => [n, results[i]]));
      const ready = results.every((r) => r === 'ok');
      return reply.status(ready ? 200 : 503).send({ status: ready ? 'ready' : 'unavailable', checks });
    });
  };
