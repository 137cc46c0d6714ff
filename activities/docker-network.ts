// The network workspace containers join, created on first need. startContainer calls it only when the
// engine says the network is missing, so a provision on a network that exists makes no call for it.
import type Docker from 'dockerode';
import { engineMessage, isNameConflict, isNetworkMissing, status, transient } from './docker-errors';

/** Networks every engine has: never inspected, never created. */
export const BUILTIN_NETWORKS: ReadonlySet<string> = new Set(['host', 'bridge', 'none', 'default']);

/** Ensures `network` exists, creating it with `labels`; idempotent, and safe against a concurrent creator. */
export function networkEnsurer(docker: Docker, network: string, labels: Record<string, string>, log: { info(obj: object, msg?: string): void }): () => Promise<void> {
  return async function ensureNetwork(): Promise<void> {
    if (BUILTIN_NETWORKS.has(network)) return;
    try {
      await docker.getNetwork(network).inspect();
      return;
    } catch (err) {
      if (status(err) !== 404 && !isNetworkMissing(err)) throw transient('network inspect', err);
    }
    try {
      await docker.createNetwork({ Name: network, Labels: labels });
      log.info({ network }, 'docker network created');
    } catch (err) {
      // Created concurrently: Docker 409, Podman 500 "network already exists".
      if (isNameConflict(err) || /already exists/i.test(engineMessage(err))) return;
      throw transient('network create', err);
    }
  };
}
