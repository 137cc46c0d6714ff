// What the lifecycle activities need from each compute provider. activities/docker-compute.ts and
// activities/ec2-compute.ts implement these against dockerode and @aws-sdk/client-ec2; declaring the
// ports here keeps the activities testable with any real client the worker or a test hands in.
import { ApplicationFailure } from '@temporalio/activity';
import type { ContainerLimits } from '../config/container-limits';
import { FAILURE_TYPES } from '../domain/errors';
import type { WorkspaceStore } from './workspace-store';

export interface DockerComputePort {
  ping(): Promise<void>;
  ensureNetwork(): Promise<void>;
  startContainer(req: {
    workspaceId: string;
    image: string;
    env: Record<string, string>;
    files: Record<string, string>;
    /** /configs content written only into a config volume this run created (a kept volume keeps its edits). */
    configFiles?: Record<string, Buffer>;
    provisionRunId: string;
    /** Called between the engine calls (heartbeat; may throw to stop the start there). */
    onProgress?: () => void;
    limits?: ContainerLimits;
    /** False: no container of the workspace can exist under another name, so none is looked for. */
    olderNamesPossible?: boolean;
  }): Promise<{ containerId: string; containerName: string; created: boolean }>;
  isRunning(workspaceId: string): Promise<'running' | 'stopped' | 'not_found'>;
  stopContainer(workspaceId: string, opts?: { timeoutSeconds?: number }): Promise<'stopped' | 'not_found'>;
  /** Every container of the workspace (derived name and, by label, older names); its volumes when asked. */
  removeContainer(workspaceId: string, opts: { removeVolume: boolean }): Promise<void>;
  /** Stops and removes one container by engine id; 'removed' only once the engine no longer knows it. */
  removeContainerById(containerId: string, opts: { stopTimeoutSeconds: number }): Promise<'removed' | 'not_found'>;
  removeVolume(name: string): Promise<'removed' | 'not_found'>;
  /**
   * Removes the workspace's containers that carry this provision run's label (by engine id), and the
   * config volume when asked and no container of another run remains. Answers what it removed and how
   * many containers of other runs it left.
   */
  removeRunContainers(workspaceId: string, runId: string, opts: { removeVolume: boolean }): Promise<{ removed: number; others: number }>;
  tailLogs(workspaceId: string, lines: number): Promise<string>;
  listManagedContainers(): Promise<Array<{ id: string; name: string; workspaceId: string | null; running: boolean; labels: Record<string, string> }>>;
  listManagedVolumes(): Promise<Array<{ name: string; workspaceId: string | null }>>;
}

export interface Ec2ComputePort {
  ping(): Promise<void>;
  launchInstance(req: { workspaceId: string; clientToken: string; userData: string; provisionRunId: string }): Promise<{ instanceId: string; created: boolean }>;
  describeState(instanceId: string): Promise<string>;
  waitRunning(instanceId: string, opts: { timeoutMs: number; pollMs?: number; onPoll?: () => void }): Promise<void>;
  terminateInstance(instanceId: string): Promise<'terminated' | 'not_found'>;
  /** Live instances tagged with this workspace and provision run (launched but perhaps never saved on the row). */
  findRunInstances(workspaceId: string, runId: string): Promise<string[]>;
  consoleOutput(instanceId: string): Promise<string>;
  listManagedInstances(): Promise<Array<{ instanceId: string; workspaceId: string | null; state: string; launchTime: Date | null }>>;
}

export interface ComputePorts {
  docker?: DockerComputePort;
  ec2?: Ec2ComputePort;
}

/**
 * Returns requirePort(kind): the configured port of that kind. A missing provider is a deployment fault
 * no retry can mend, so it fails the activity for good (the failure type maps to a public message).
 */
export function portRequirer(compute: ComputePorts) {
  return function requirePort<K extends keyof ComputePorts>(kind: K): NonNullable<ComputePorts[K]> {
    const port = compute[kind];
    if (!port) throw ApplicationFailure.nonRetryable(`compute provider ${kind} is not configured`, FAILURE_TYPES.computeUnavailable);
    return port as NonNullable<ComputePorts[K]>;
  };
}

/**
 * The container removal behind three activities: removeContainer (restart), removeComputeAfterStop
 * (delete) and removeCompute (provision compensation). Their names stay, as workflow histories name
 * them; each decides whether there is a container to remove. The name is forgotten only after the
 * removal, so a retry after a crash in between still knows what to clean. Idempotent: the adapter
 * reads a missing container as success.
 */
export async function removeWorkspaceContainer(
  store: Pick<WorkspaceStore, 'setComputeRefs'>,
  docker: DockerComputePort,
  workspaceId: string,
  opts: { removeVolume: boolean },
): Promise<void> {
  await docker.removeContainer(workspaceId, opts);
  await store.setComputeRefs(workspaceId, { containerName: null });
}
