// The common ground of the routes that write a workspace's secret-backed settings (secrets, model,
// provider): the admin check before the body is read, 503 without SECRETS_KEY before anything changes,
// the live-workspace loader and the restart requested after a write.
import type { FastifyInstance } from 'fastify';
import type { ApiDeps } from '../deps';
import { liveWorkspaceLoader } from './live-workspace';
import { createRestartAfterWrite } from './restart-after-write';

export function secretWriteRoutes(app: FastifyInstance, deps: ApiDeps) {
  app.addHook('onRequest', deps.adminGuard);
  app.addHook('preHandler', deps.requireSecretsKey);
  return { restarts: createRestartAfterWrite(deps.workflows), loadLive: liveWorkspaceLoader((id) => deps.store.getWorkspace(id)) };
}
