// Builds the Fastify app from injected dependencies (tests hand in clients pointed at test servers).
import { randomUUID } from 'node:crypto';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { Client } from '@temporalio/client';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import { jsonSchemaTransform, serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type { LoggerOptions } from 'pino';
import type { Config } from '../config';
import type { ComputePorts } from '../activities/compute-ports';
import type { SecretBox } from '../activities/crypto';
import type { WorkspaceStore } from '../activities/workspace-store';
import { adminGuard, secretsKeyGuard } from './auth';
import { finishDocument, installContract, notFoundOrNotAllowed } from './contract';
import { installErrorHandling, installStrictJsonParser } from './errors';
import { BODY_LIMIT_BYTES } from './limits';
import { activityRoutes } from './routes/activity';
import { adminRoutes } from './routes/admin';
import { buildInfoRoutes } from './routes/buildinfo';
import { eventRoutes } from './routes/events';
import { fileRoutes } from './routes/files';
import { healthRoutes } from './routes/health';
import { orgRoutes } from './routes/org';
import { modelRoutes } from './routes/model';
import { registryRoutes } from './routes/registry';
import { secretRoutes } from './routes/secrets';
import { tokenRoutes } from './routes/tokens';
import { workspacePowerRoutes } from './routes/workspace-power';
import { workspaceSettingsRoutes } from './routes/workspace-settings';
import { workspaceRoutes } from './routes/workspaces';
import type { ApiDeps } from './deps';
import { countedClient, createApiMetrics, installApiMetrics } from './metrics';
import { createEventHub } from './services/event-hub';
import { createWorkflowService } from './services/workflow-service';

export type { ApiDeps } from './deps';

export interface BuildAppOptions {
  config: Config;
  store: WorkspaceStore;
  box: SecretBox;
  temporal: Client;
  compute: ComputePorts;
  logger?: LoggerOptions | boolean;
}

export async function buildApp(opts: BuildAppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    logger: opts.logger ?? { level: opts.config.LOG_LEVEL },
    bodyLimit: BODY_LIMIT_BYTES,
    genReqId: () => randomUUID(),
    // Keep attacker-sized inputs bounded before zod ever sees them.
    routerOptions: { maxParamLength: 200 },
    // Fastify's own answers for a malformed URL or an over-long parameter quote the path: replace them.
    frameworkErrors: (error, _request, reply) => {
      const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 400;
      void (reply as FastifyReply).status(status).send({ error: 'malformed request URL', code: 'BAD_URL' });
    },
  }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  // Before any route: it completes each route's documented answers as the route is added.
  const contract = installContract(app);
  installErrorHandling(app, { databaseUrl: opts.config.DATABASE_URL, notFound: notFoundOrNotAllowed(contract) });
  // JSON only: any other content type is a 415, not a string for zod to puzzle over.
  app.removeContentTypeParser('text/plain');
  installStrictJsonParser(app);
  // Before the routes, so every answer is counted; starts and signals are counted on the client.
  const metrics = createApiMetrics();
  installApiMetrics(app, metrics, { adminToken: opts.config.ADMIN_TOKEN, metricsToken: opts.config.METRICS_TOKEN });
  const temporal = countedClient(opts.temporal, metrics);

  await app.register(swagger, {
    openapi: {
      info: { title: 'Workspace lifecycle orchestrator', version: '0.1.0' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
    transform: jsonSchemaTransform,
    transformObject: finishDocument(contract),
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  const deps: ApiDeps = {
    config: opts.config,
    store: opts.store,
    box: opts.box,
    temporal,
    compute: opts.compute,
    workflows: createWorkflowService({ client: temporal, taskQueue: opts.config.TASK_QUEUE, resetAutoRestart: opts.store.resetAutoRestart,
      workspaceLabel: (id) => opts.store.getWorkspace(id),
    }),
    eventHub: createEventHub(opts.config.DATABASE_URL, app.log),
    adminGuard: adminGuard(opts.config.ADMIN_TOKEN),
    requireSecretsKey: secretsKeyGuard(opts.config.SECRETS_KEY),
  };
  await app.register(healthRoutes(deps));
  await app.register(buildInfoRoutes(deps));
  await app.register(registryRoutes(deps));
  await app.register(workspaceRoutes(deps));
  await app.register(workspaceSettingsRoutes(deps));
  await app.register(workspacePowerRoutes(deps));
  await app.register(tokenRoutes(deps));
  await app.register(activityRoutes(deps));
  await app.register(secretRoutes(deps));
  await app.register(modelRoutes(deps));
  await app.register(fileRoutes(deps));
  await app.register(adminRoutes(deps));
  await app.register(orgRoutes(deps));
  await app.register(eventRoutes(deps));
  app.addHook('onClose', () => deps.eventHub.close());
  return app;
}
