// Which build answers (SPEC-ADDENDUM A14.2): public like /healthz, so a deploy can be checked without a token.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ApiDeps } from '../deps';

export const buildInfoRoutes =
  (deps: ApiDeps): FastifyPluginAsyncZod =>
  async (app) => {
    app.get(
      '/buildinfo',
      { schema: { tags: ['health'], security: [], response: { 200: z.object({ git_sha: z.string().describe('GIT_SHA at start; dev when unset') }) } } },
      async () => ({ git_sha: deps.config.GIT_SHA }),
    );
  };
