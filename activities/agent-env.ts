// The env an agent receives, assembled from the decrypted secrets and the platform's wiring. One
// function for the two places that hand it out: the Docker start (container env) and the EC2 bootstrap
// exchange (the agent fetches it over the API; user data never carries it).
import type { Config } from '../config';
import { assembleEnv, type AssembledEnv } from '../domain/provision-env';
import type { WorkspaceRow, WorkspaceStore } from './workspace-store';

export type LoadedSecrets = Awaited<ReturnType<WorkspaceStore['loadSecrets']>>;

export function agentEnv(config: Config, ws: WorkspaceRow, secrets: LoadedSecrets, requestModel: string | null | undefined): AssembledEnv {
  return assembleEnv({
    workspace: { id: ws.id, name: ws.name, parentId: ws.parent_id, model: ws.model },
    globalSecrets: secrets.global,
    workspaceSecrets: secrets.workspace,
    requestModel,
    requiredEnv: ws.required_env,
    platform: {
      WORKSPACE_ID: ws.id,
      PLATFORM_URL: config.PLATFORM_URL,
      HEARTBEAT_INTERVAL: String(config.HEARTBEAT_INTERVAL_SECONDS),
    },
  });
}
