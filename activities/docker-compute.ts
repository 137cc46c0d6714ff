// The only code that talks to the Docker Engine API (Podman serves it here). Every call is idempotent
// (a Temporal activity may run it twice, or die at any line and be retried): names are deterministic,
// "already exists" / "not found" are read as the success they mean, and an engine error is never
// mistaken for "not running" (that mistake caused a restart cascade in the reference platform).
// The engine answers it relies on, and how each is read: docker-errors.ts.
import type Docker from 'dockerode';
import { ComputeError } from '../domain/errors';
import { configVolumeName, containerName, MANAGED_LABEL, PROVISION_RUN_LABEL, WORKSPACE_ID_LABEL } from '../domain/vocabulary';
import { DEFAULT_CONTAINER_LIMITS, type ContainerLimits } from '../config/container-limits';
import type { DockerComputePort } from './compute-ports';
import { boundedText, sleep } from './compute-util';
import {
  engineMessage,
  isImageMissing,
  isNameConflict,
  isNetworkMissing,
  isNoSuchContainer,
  isNoSuchVolume,
  isRemovalInProgress,
  status,
  transient,
} from './docker-errors';
import { createDockerLookup, forceRemoveContainer } from './docker-lookup';
import { networkEnsurer } from './docker-network';
import { createVolumeAnswering } from './docker-volumes';
import { tarFiles } from './tar';

export interface MinimalLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface DockerComputeDeps {
  docker: Docker;
  /** HostConfig.NetworkMode of every workspace container; created by ensureNetwork unless built in. */
  network: string;
  /**
   * Put on every container, volume and network this adapter creates, AND used to scope the
   * listManaged* queries: two deployments (or test runs) sharing one engine never see each other's.
   */
  extraLabels?: Record<string, string>;
  log: MinimalLogger;
}

export interface StartContainerRequest {
  workspaceId: string;
  image: string;
  env: Record<string, string>;
  /** Written into /configs before the container first starts, e.g. { '.auth_token': token }. */
  files: Record<string, string>;
  /**
   * The rest of /configs (config.yaml, template files), written only when this run created the config
   * volume: a volume kept by a plain restart keeps the user's edits (SPEC-ADDENDUM A6.4).
   */
  configFiles?: Record<string, Buffer>;
  /** The provision run that owns the container: a retry of the same run reuses it, another replaces it. */
  provisionRunId: string;
  /** Called before each engine step (volume, create, files, start): heartbeats, and may throw to stop there. */
  onProgress?: () => void;
  /** Memory, pids and CPU caps; the defaults of config/container-limits.ts when not given. */
  limits?: ContainerLimits;
  /**
   * False when the workspace can have no container under another name (its row says so: created since
   * full-id names, or looked at once): the lookup, a listing that walks every container on the engine,
   * is skipped. Looked up unless said.
   */
  olderNamesPossible?: boolean;
}

export type { ManagedContainer, ManagedVolume } from './docker-lookup';

export type DockerCompute = DockerComputePort;

/** tailLogs returns at most this many bytes (the newest ones). */
export const MAX_LOG_BYTES = 16 * 1024;
const MAX_LOG_LINES = 10_000;
/** startContainer gives up after this many create/replace rounds lost to concurrent callers. */
const MAX_START_ROUNDS = 5;

/** Demultiplexes the engine's stdout/stderr framing (8-byte headers); raw (TTY) output passes through. */
export function demuxLogs(buf: Buffer): Buffer {
  const out: Buffer[] = [];
  let i = 0;
  while (i + 8 <= buf.length && buf[i] <= 2 && buf[i + 1] === 0 && buf[i + 2] === 0 && buf[i + 3] === 0) {
    const size = buf.readUInt32BE(i + 4);
    out.push(buf.subarray(i + 8, Math.min(buf.length, i + 8 + size)));
    i += 8 + size;
  }
  return i === 0 ? buf : Buffer.concat(out);
}

export function createDockerCompute(deps: DockerComputeDeps): DockerCompute {
  const { docker, network, log } = deps;
  const extraLabels = deps.extraLabels ?? {};
  const labelsFor = (workspaceId: string): Record<string, string> => ({
    ...extraLabels,
    [MANAGED_LABEL]: 'true',
    [WORKSPACE_ID_LABEL]: workspaceId,
  });
  const lookup = createDockerLookup(docker, extraLabels, log);
  const { labelledContainers, labelledVolumes } = lookup;

  async function inspect(nameOrId: string): Promise<Docker.ContainerInspectInfo | null> {
    try {
      return await docker.getContainer(nameOrId).inspect();
    } catch (err) {
      if (isNoSuchContainer(err)) return null;
      throw transient('inspect', err);
    }
  }

  // Every removal goes by engine id (forceRemoveContainer says why never by name).
  const forceRemove = (containerId: string) => forceRemoveContainer(docker, containerId);

  /** Engine ids to act on: the container under the derived name, or (none there) those with the workspace's label. */
  async function resolveContainers(workspaceId: string): Promise<Array<{ id: string; running: boolean }>> {
    const info = await inspect(containerName(workspaceId));
    if (info) return [{ id: info.Id, running: info.State.Running }];
    return labelledContainers(workspaceId);
  }

  /** Containers of the workspace under any other name than the derived one (left by the older naming scheme). */
  async function legacyContainers(workspaceId: string): Promise<string[]> {
    const name = containerName(workspaceId);
    return (await labelledContainers(workspaceId)).filter((c) => c.name !== name).map((c) => c.id);
  }

  async function stopById(id: string, timeoutSeconds: number): Promise<'stopped' | 'not_found'> {
    try {
      await docker.getContainer(id).stop({ t: timeoutSeconds });
      return 'stopped';
    } catch (err) {
      if (status(err) === 304) return 'stopped'; // already stopped
      if (isRemovalInProgress(err)) return 'stopped';
      if (isNoSuchContainer(err)) return 'not_found';
      throw transient('stop', err);
    }
  }

  async function removeVolumeByName(name: string): Promise<'removed' | 'not_found'> {
    try {
      await docker.getVolume(name).remove();
      return 'removed';
    } catch (err) {
      if (isNoSuchVolume(err)) return 'not_found';
      throw transient('volume remove', err); // 409 "in use" included: retry once the container is gone
    }
  }

  /** Creates the config volume if missing; true when it is this run's (created by it, now or in an earlier attempt). */
  async function ensureVolume(workspaceId: string, runId: string): Promise<boolean> {
    const name = configVolumeName(workspaceId);
    try {
      // The label says which run created it: a retry of that run still writes its files.
      const answer = await createVolumeAnswering(docker, { Name: name, Labels: { ...labelsFor(workspaceId), [PROVISION_RUN_LABEL]: runId } });
      if (answer.Labels !== undefined) return answer.Labels?.[PROVISION_RUN_LABEL] === runId;
    } catch (err) {
      if (!isNameConflict(err) && !/already exists/i.test(engineMessage(err))) throw transient('volume create', err);
    }
    // An engine that answered a conflict, or without the volume: read its labels.
    try {
      const info = await docker.getVolume(name).inspect();
      return info.Labels?.[PROVISION_RUN_LABEL] === runId;
    } catch (err) {
      if (isNoSuchVolume(err)) return false; // removed meanwhile: the start fails and is retried
      throw transient('volume inspect', err);
    }
  }

  const ensureNetwork = networkEnsurer(docker, network, { ...extraLabels, [MANAGED_LABEL]: 'true' }, log);

  /**
   * Creates the container. 'name_taken': a concurrent caller created it first (inspect and apply the
   * ownership rule to theirs); 'network_missing': ensureNetwork was never called on this engine.
   */
  async function create(req: StartContainerRequest): Promise<{ id: string } | 'name_taken' | 'network_missing'> {
    const limits = req.limits ?? DEFAULT_CONTAINER_LIMITS;
    const memory = limits.memoryMb * 1024 * 1024;
    try {
      const created = await docker.createContainer({
        name: containerName(req.workspaceId),
        Image: req.image,
        Env: Object.entries(req.env).map(([k, v]) => `${k}=${v}`),
        Labels: { ...labelsFor(req.workspaceId), [PROVISION_RUN_LABEL]: req.provisionRunId },
        HostConfig: {
          Binds: [`${configVolumeName(req.workspaceId)}:/configs`],
          NetworkMode: network,
          RestartPolicy: { Name: 'no' },
          // The agent runs code its model writes: bounded resources, no privilege gain through setuid
          // binaries, and no capabilities (it reads /configs and speaks HTTP, which need none).
          Memory: memory,
          MemorySwap: memory, // equal to Memory: no swap on top
          PidsLimit: limits.pidsLimit,
          NanoCpus: Math.round(limits.cpus * 1e9),
          SecurityOpt: ['no-new-privileges'],
          CapDrop: ['ALL'],
          CapAdd: [],
        },
      });
      return { id: created.id };
    } catch (err) {
      // Nothing can be pulled on these machines, and the platform never pulls implicitly.
      if (isImageMissing(err)) throw new ComputeError('image_missing', 'workspace image is not available', status(err));
      if (isNameConflict(err)) return 'name_taken';
      if (isNetworkMissing(err)) return 'network_missing';
      throw transient('create', err);
    }
  }

  return {
    async ping() {
      try {
        await docker.ping();
      } catch (err) {
        throw transient('ping', err);
      }
    },

    ensureNetwork,

    async startContainer(req: StartContainerRequest) {
      const name = containerName(req.workspaceId);
      let created = false;
      let networkEnsured = false;
      let lastError: ComputeError | null = null;
      const progress = req.onProgress ?? (() => undefined);
      for (let round = 0; round < MAX_START_ROUNDS; round++) {
        lastError = null; // what ends the loop is what the last round met
        // Create first, look only when the name is taken: the first attempt (nearly every provision)
        // makes no inspect call at all, one engine round trip less under a burst of provisions.
        progress();
        const volumeIsNew = await ensureVolume(req.workspaceId, req.provisionRunId);
        progress();
        const outcome = await create(req);
        if (outcome === 'network_missing') {
          if (networkEnsured) throw new ComputeError('transient', `docker create: network ${network} is missing`);
          networkEnsured = true;
          await ensureNetwork();
          continue;
        }
        let target: { id: string; status: string; running: boolean };
        if (outcome === 'name_taken') {
          const info = await inspect(name);
          if (!info) {
            // Removed meanwhile, or a create of this name is between its storage and its database
            // entry: wait a moment, then create again. When that lasts every round, the name is held
            // by a container only in storage (left by an engine that died mid-create), which this
            // adapter does not remove: it removes by id only (forceRemove), and such a container has none.
            lastError = new ComputeError('transient', `docker create: the name ${name} is held by a container the engine does not list (in storage only?); if this stays, remove it on the engine host: podman rm -f ${name}`);
            await sleep(50 * (round + 1));
            continue;
          }
          const owner = info.Config.Labels?.[PROVISION_RUN_LABEL];
          const unusable = info.State.Dead || info.State.Status === 'removing' || info.State.Status === 'dead';
          if (owner !== req.provisionRunId || unusable) {
            // Left by another provision run (its token is revoked anyway) or half-removed: replace it.
            // Removed by id, so a container a concurrent caller has just created under the name survives.
            log.warn({ workspaceId: req.workspaceId, container: name, previousRun: owner ?? null, state: info.State.Status }, 'replacing container');
            await forceRemove(info.Id);
            continue;
          }
          target = { id: info.Id, status: info.State.Status, running: info.State.Running };
        } else {
          created = true;
          // No inspect of what we just created either: a concurrent attempt that started or replaced
          // it meanwhile is handled by the archive and start answers below (already started, or no
          // such container → start over).
          target = { id: outcome.id, status: 'created', running: false };
        }

        const container = docker.getContainer(target.id);
        // Files go in only while the container has never run: the agent reads its token at its first
        // line. A started container of this run already has them (same run, same token).
        const files = { ...(volumeIsNew ? (req.configFiles ?? {}) : {}), ...req.files };
        if (target.status === 'created' && Object.keys(files).length > 0) {
          progress();
          try {
            await container.putArchive(tarFiles(files), { path: '/configs' });
          } catch (err) {
            if (isNoSuchContainer(err)) continue;
            // Podman fails a PUT archive that races another one into the same volume ("error during
            // bulk transfer"): look again (a concurrent attempt may have started it) and rewrite.
            lastError = transient('write files', err);
            await sleep(100 * (round + 1));
            continue;
          }
        }
        if (!target.running) {
          progress();
          try {
            await container.start();
          } catch (err) {
            if (status(err) === 304) {
              // already started by a concurrent attempt
            } else if (isNoSuchContainer(err)) {
              continue;
            } else {
              throw transient('start', err);
            }
          }
        }
        // A container of this workspace under an older name would keep running beside the new one (with
        // a revoked token): looked up only once ours is started, so the listing (a walk over every
        // container on the engine) runs while the agent boots instead of beside the create and start
        // it would slow down; removed by id. A crash before it: the retry finds ours started, comes here.
        const olderNamed = req.olderNamesPossible === false ? [] : await legacyContainers(req.workspaceId);
        for (const old of olderNamed) {
          log.warn({ workspaceId: req.workspaceId, containerId: old }, 'removing container under an older name');
          await forceRemove(old);
        }
        log.info({ workspaceId: req.workspaceId, container: name, containerId: target.id, created }, created ? 'container created and started' : 'container reused');
        return { containerId: target.id, containerName: name, created };
      }
      throw lastError ?? new ComputeError('transient', `docker start: ${name} kept changing under concurrent callers`);
    },

    async isRunning(workspaceId) {
      const found = await resolveContainers(workspaceId); // engine errors throw ComputeError('transient')
      if (found.length === 0) return 'not_found';
      return found.some((c) => c.running) ? 'running' : 'stopped';
    },

    async stopContainer(workspaceId, opts) {
      const outcomes = await Promise.all((await resolveContainers(workspaceId)).map((c) => stopById(c.id, opts?.timeoutSeconds ?? 10)));
      return outcomes.includes('stopped') ? 'stopped' : 'not_found';
    },

    async removeContainer(workspaceId, opts) {
      // By id (forceRemove): the derived name's container, found even when the listing fails, then any
      // other of the workspace's (an older name), found by label.
      const named = await inspect(containerName(workspaceId));
      if (named) await forceRemove(named.Id);
      for (const c of await labelledContainers(workspaceId)) if (c.id !== named?.Id) await forceRemove(c.id);
      if (opts.removeVolume) {
        const names = new Set([configVolumeName(workspaceId), ...(await labelledVolumes(workspaceId))]);
        for (const name of names) await removeVolumeByName(name);
      }
    },

    async removeContainerById(containerId, opts) {
      // Stop first so the agent gets its SIGTERM; then remove, and believe it only when the engine no
      // longer knows the id (a remove it refuses, or one that did not take, is never reported as done).
      const stopped = await stopById(containerId, opts.stopTimeoutSeconds);
      if (stopped === 'not_found') return 'not_found';
      try {
        await docker.getContainer(containerId).remove({ force: true });
      } catch (err) {
        if (!isNoSuchContainer(err)) throw transient('remove', err);
      }
      if (await inspect(containerId)) throw new ComputeError('transient', 'docker remove: the container is still there');
      return 'removed';
    },

    removeVolume: removeVolumeByName,

    async removeRunContainers(workspaceId, runId, opts) {
      const ofWorkspace = await labelledContainers(workspaceId);
      const ofRun = ofWorkspace.filter((c) => c.labels[PROVISION_RUN_LABEL] === runId);
      for (const c of ofRun) await forceRemove(c.id);
      const others = ofWorkspace.length - ofRun.length;
      // Another run's container still mounts the volume: it is that run's to remove.
      if (opts.removeVolume && others === 0) await removeVolumeByName(configVolumeName(workspaceId));
      return { removed: ofRun.length, others };
    },

    async tailLogs(workspaceId, lines) {
      const tail = Math.max(1, Math.min(MAX_LOG_LINES, Math.floor(lines)));
      const [target] = await resolveContainers(workspaceId);
      if (!target) return '';
      let raw: unknown;
      try {
        raw = await docker.getContainer(target.id).logs({ stdout: true, stderr: true, tail, follow: false });
      } catch (err) {
        if (isNoSuchContainer(err)) return '';
        throw transient('logs', err);
      }
      const buf = Buffer.isBuffer(raw) ? raw : Buffer.from(String(raw ?? ''), 'utf8');
      return boundedText(demuxLogs(buf), MAX_LOG_BYTES);
    },

    listManagedContainers: lookup.listManagedContainers,
    listManagedVolumes: lookup.listManagedVolumes,
  };
}
