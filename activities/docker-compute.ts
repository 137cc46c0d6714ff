// The only code that talks to the Docker Engine API (Podman serves it here). Every call is idempotent:
// deterministic names, "already exists" / "not found" read as the success they mean, and transient
// errors are never mistaken for "not running" (that mistake caused a restart cascade in the reference).
import type Docker from 'dockerode';
import { ComputeError } from '../domain/errors';
import { configVolumeName, containerName, MANAGED_LABEL, PROVISION_RUN_LABEL, WORKSPACE_ID_LABEL } from '../domain/vocabulary';
import type { DockerComputePort } from './compute-ports';
import { tarFiles } from './tar';

export interface MinimalLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface DockerComputeDeps {
  docker: Docker;
  network: string;
  extraLabels?: Record<string, string>;
  log: MinimalLogger;
}

const BUILTIN_NETWORKS = new Set(['host', 'bridge', 'none', 'default']);
const MAX_LOG_BYTES = 16 * 1024;

interface EngineError {
  statusCode?: number;
  message?: string;
  json?: { message?: string } | null;
}

function engineError(err: unknown): EngineError {
  return (typeof err === 'object' && err !== null ? err : {}) as EngineError;
}

function engineMessage(err: unknown): string {
  const e = engineError(err);
  return String(e.json?.message ?? e.message ?? err);
}

function isNotFound(err: unknown): boolean {
  return engineError(err).statusCode === 404 || /no such (container|volume|object)/i.test(engineMessage(err));
}

function isRemovalInProgress(err: unknown): boolean {
  return /removal .*already in progress/i.test(engineMessage(err));
}

function transient(op: string, err: unknown): ComputeError {
  return new ComputeError('transient', `docker ${op} failed: ${engineMessage(err).slice(0, 300)}`, engineError(err).statusCode);
}

/** Demultiplexes the engine's stdout/stderr framing (8-byte headers) when present. */
export function demuxLogs(buf: Buffer): string {
  const out: Buffer[] = [];
  let i = 0;
  while (i + 8 <= buf.length && (buf[i] === 1 || buf[i] === 2 || buf[i] === 0) && buf[i + 1] === 0 && buf[i + 2] === 0 && buf[i + 3] === 0) {
    const size = buf.readUInt32BE(i + 4);
    out.push(buf.subarray(i + 8, i + 8 + size));
    i += 8 + size;
  }
  return (i === 0 ? buf : Buffer.concat(out)).toString('utf8');
}

export function createDockerCompute(deps: DockerComputeDeps): DockerComputePort {
  const { docker, network, log } = deps;
  const extraLabels = deps.extraLabels ?? {};
  const labelsFor = (workspaceId: string) => ({ [MANAGED_LABEL]: 'true', [WORKSPACE_ID_LABEL]: workspaceId, ...extraLabels });
  const scopeFilters = () => [`${MANAGED_LABEL}=true`, ...Object.entries(extraLabels).map(([k, v]) => `${k}=${v}`)];

  async function inspectByName(workspaceId: string) {
    try {
      return await docker.getContainer(containerName(workspaceId)).inspect();
    } catch (err) {
      if (isNotFound(err)) return null;
      throw transient('inspect', err);
    }
  }

  async function forceRemove(name: string): Promise<void> {
    try {
      await docker.getContainer(name).remove({ force: true });
    } catch (err) {
      if (isNotFound(err) || isRemovalInProgress(err)) return;
      throw transient('remove', err);
    }
  }

  async function ensureVolume(workspaceId: string): Promise<void> {
    const name = configVolumeName(workspaceId);
    try {
      await docker.getVolume(name).inspect();
      return;
    } catch (err) {
      if (!isNotFound(err)) throw transient('volume inspect', err);
    }
    try {
      await docker.createVolume({ Name: name, Labels: labelsFor(workspaceId) });
    } catch (err) {
      if (engineError(err).statusCode !== 409) throw transient('volume create', err); // 409: created concurrently
    }
  }

  return {
    async ping() {
      await docker.ping();
    },

    async ensureNetwork() {
      if (BUILTIN_NETWORKS.has(network)) return;
      try {
        await docker.getNetwork(network).inspect();
        return;
      } catch (err) {
        if (!isNotFound(err)) throw transient('network inspect', err);
      }
      try {
        await docker.createNetwork({ Name: network, Labels: { [MANAGED_LABEL]: 'true' } });
      } catch (err) {
        if (engineError(err).statusCode !== 409) throw transient('network create', err);
      }
    },

    async startContainer(req) {
      const name = containerName(req.workspaceId);
      let existing = await inspectByName(req.workspaceId);
      // A container from another provision run carries a revoked token: replace it.
      if (existing && existing.Config.Labels?.[PROVISION_RUN_LABEL] !== req.provisionRunId) {
        await forceRemove(name);
        existing = null;
      }
      let created = false;
      if (!existing) {
        await ensureVolume(req.workspaceId);
        try {
          await docker.createContainer({
            name,
            Image: req.image,
            Env: Object.entries(req.env).map(([k, v]) => `${k}=${v}`),
            Labels: { ...labelsFor(req.workspaceId), [PROVISION_RUN_LABEL]: req.provisionRunId },
            HostConfig: {
              Binds: [`${configVolumeName(req.workspaceId)}:/configs`],
              NetworkMode: network,
              RestartPolicy: { Name: 'no' },
            },
          });
          created = true;
        } catch (err) {
          const e = engineError(err);
          if (e.statusCode === 404 || /image not known|no such image|image.*not found/i.test(engineMessage(err))) {
            throw new ComputeError('image_missing', 'workspace image is not available', e.statusCode);
          }
          if (e.statusCode !== 409) throw transient('create', err);
          // 409: a concurrent attempt of this same activity created it; fall through and inspect.
        }
        existing = await inspectByName(req.workspaceId);
        if (!existing) throw new ComputeError('transient', 'container vanished after create');
      }
      const container = docker.getContainer(name);
      if (!existing.State.Running) {
        // Written before start: the agent reads its token at its first line.
        try {
          await container.putArchive(tarFiles(req.files), { path: '/configs' });
          await container.start();
        } catch (err) {
          if (engineError(err).statusCode !== 304) throw transient('start', err); // 304: already started
        }
      }
      log.info({ workspaceId: req.workspaceId, container: name, created }, 'container started');
      return { containerId: existing.Id, containerName: name, created };
    },

    async isRunning(workspaceId) {
      const info = await inspectByName(workspaceId); // throws ComputeError('transient') on engine errors
      if (!info) return 'not_found';
      return info.State.Running ? 'running' : 'stopped';
    },

    async stopContainer(workspaceId, opts) {
      try {
        await docker.getContainer(containerName(workspaceId)).stop({ t: opts?.timeoutSeconds ?? 10 });
        return 'stopped';
      } catch (err) {
        const e = engineError(err);
        if (e.statusCode === 304) return 'stopped'; // already stopped
        if (isNotFound(err)) return 'not_found';
        if (isRemovalInProgress(err)) return 'stopped';
        throw transient('stop', err);
      }
    },

    async removeContainer(workspaceId, opts) {
      await forceRemove(containerName(workspaceId));
      if (opts.removeVolume) {
        try {
          await docker.getVolume(configVolumeName(workspaceId)).remove();
        } catch (err) {
          if (!isNotFound(err)) throw transient('volume remove', err);
        }
      }
    },

    async removeVolume(name) {
      try {
        await docker.getVolume(name).remove();
        return 'removed';
      } catch (err) {
        if (isNotFound(err)) return 'not_found';
        throw transient('volume remove', err);
      }
    },

    async tailLogs(workspaceId, lines) {
      try {
        const raw = (await docker.getContainer(containerName(workspaceId)).logs({ stdout: true, stderr: true, tail: lines, follow: false })) as unknown as Buffer;
        const text = demuxLogs(Buffer.isBuffer(raw) ? raw : Buffer.from(String(raw)));
        return text.length > MAX_LOG_BYTES ? text.slice(-MAX_LOG_BYTES) : text;
      } catch (err) {
        if (isNotFound(err)) return '';
        throw transient('logs', err);
      }
    },

    async listManagedContainers() {
      let list: Docker.ContainerInfo[];
      try {
        list = await docker.listContainers({ all: true, filters: { label: scopeFilters() } });
      } catch (err) {
        throw transient('list', err);
      }
      return list.map((c) => ({
        id: c.Id,
        name: (c.Names?.[0] ?? '').replace(/^\//, ''),
        workspaceId: c.Labels?.[WORKSPACE_ID_LABEL] ?? null,
        running: c.State === 'running',
        labels: c.Labels ?? {},
      }));
    },

    async listManagedVolumes() {
      try {
        const { Volumes } = await docker.listVolumes({ filters: { label: scopeFilters() } });
        return (Volumes ?? []).map((v) => ({ name: v.Name, workspaceId: v.Labels?.[WORKSPACE_ID_LABEL] ?? null }));
      } catch (err) {
        throw transient('volume list', err);
      }
    },
  };
}
