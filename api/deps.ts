// What every route plugin receives: the clients, the workflow service and the two guards. Apart from
// app.ts so that the routes depend on this, not on the module that registers them.
import type { Client } from '@temporalio/client';
import type { FastifyRequest } from 'fastify';
import type { ComputePorts } from '../activities/compute-ports';
import type { SecretBox } from '../activities/crypto';
import type { WorkspaceStore } from '../activities/workspace-store';
import type { Config } from '../config';
import type { EventHub } from './services/event-hub';
import type { WorkflowService } from './services/workflow-service';

export interface ApiDeps {
  config: Config;
  store: WorkspaceStore;
  box: SecretBox;
  temporal: Client;
  compute: ComputePorts;
  workflows: WorkflowService;
  /** Wakes the open event streams when an event is recorded (LISTEN molecule_events). */
  eventHub: EventHub;
  adminGuard: (request: FastifyRequest) => Promise<void>;
  /** preHandler of routes that need SECRETS_KEY (503 SECRETS_KEY_MISSING without it). */
  requireSecretsKey: () => Promise<void>;
}

