// Liveness and readiness. /readyz checks every dependency and says which one failed (503).
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ApiDeps } from '../deps';
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
type Readiness = z.infer<typeof readyResponse>;

export const healthRoutes =
  (deps: ApiDeps): FastifyPluginAsyncZod =>
  async (app) => {
    app.get('/healthz', { schema: { tags: ['health'], security: [], response: { 200: z.object({ status: z.literal('ok') }) } } }, async () => ({
      status: 'ok' as const,
    }));

    async function probeAll(): Promise<Readiness> {
      const probes: Record<string, () => Promise<unknown>> = {
        postgres: () => deps.store.pool.query('SELECT 1'),
        temporal: () => deps.temporal.workflowService.getSystemInfo({}),
      };
      if (deps.compute.docker) probes.docker = () => deps.compute.docker!.ping();
      if (deps.compute.ec2) probes.ec2 = () => deps.compute.ec2!.ping();
      const names = Object.keys(probes);
      const results = await Promise.all(names.map((n) => check(probes[n])));
      const checks = Object.fromEntries(names.map((n, i) => [n, results[i]]));
      return { status: results.every((r) => r === 'ok') ? 'ready' : 'unavailable', checks };
    }

    // /readyz is unauthenticated and each probe is a real call (EC2's DescribeRegions counts against the
    // account's request budget), so every caller within the window shares one round of probes: the
    // one in flight, or the last one's answer, failures included.
    const cacheMs = deps.config.READYZ_CACHE_SECONDS * 1000;
    let last: { at: number; answer: Promise<Readiness> } | null = null;
    function readiness(): Promise<Readiness> {
      const now = Date.now();
      if (!last || now - last.at >= cacheMs) {
        const answer = probeAll();
        last = { at: now, answer };
        // Timed from when the probes answered, so a slow round is not stale on arrival.
        void answer.then(() => {
          if (last?.answer === answer) last.at = Date.now();
        });
      }
      return last.answer;
    }

    app.get('/readyz', { schema: { tags: ['health'], security: [], response: { 200: readyResponse, 503: readyResponse } } }, async (_req, reply) => {
      const answer = await readiness();
      return reply.status(answer.status === 'ready' ? 200 : 503).send(answer);
    });
  };
