// How the Docker Engine API (and Podman's) reports trouble, read the same way by every call in
// activities/docker-compute.ts: the engine's own JSON message, not dockerode's text, and an error
// nothing recognises is transient (retried), never taken for "not running" or "gone".
//
// The engine answers docker-compute.ts relies on (Docker and Podman 4.3 differ; both are handled):
//   - missing container (inspect/stop/remove/logs/archive): 404, cause "no such container". Podman
//     answers 500 with the same cause when the container vanished mid-call (a concurrent remove).
//   - stop of an already stopped container: 304. Podman answers 200 for a never-started one.
//   - start of a running container: Docker 304, Podman 200.
//   - create with a taken name: Docker 409, Podman 500 "that name is already in use".
//   - create with a missing image: 404 "no such image" (dockerode's own text says "no such container":
//     read the engine's JSON message, never dockerode's).
//   - create with a missing network: Podman 500 "network not found", Docker 404.
//   - volume create of an existing name: 201 (both); volume remove while in use: 409.
//   - network create of an existing name: Docker 409, Podman 500 "network already exists".
//   - an unreachable engine: no status at all (ENOENT / ECONNREFUSED) → transient.
import { ComputeError } from '../domain/errors';

interface EngineError {
  statusCode?: number;
  message?: string;
  code?: string;
  json?: { message?: string; cause?: string } | null;
}

export function engineError(err: unknown): EngineError {
  return (typeof err === 'object' && err !== null ? err : {}) as EngineError;
}

/** The engine's own text (JSON body), falling back to the client's message. */
export function engineMessage(err: unknown): string {
  const e = engineError(err);
  const json = e.json && typeof e.json === 'object' ? e.json : null;
  return String(json?.message ?? json?.cause ?? e.message ?? err);
}

export const status = (err: unknown) => engineError(err).statusCode;

export function isNoSuchContainer(err: unknown): boolean {
  // 404 alone is not enough for create (404 there means the image); callers use this on
  // inspect/stop/remove/logs/start/archive, where the engine's text is checked too for Podman's 500s.
  return status(err) === 404 || /no such container|does not exist in database/i.test(engineMessage(err));
}

/**
 * A listing that failed on one container removed while the engine described it: Podman answers 500
 * `getting container from store "<id>": container not known` (or "does not exist in database") for the
 * whole listing. Usually gone a moment later, when the removal has finished.
 */
export function isListingRacedByRemoval(err: unknown): boolean {
  return status(err) === 500 && (/container not known/i.test(engineMessage(err)) || isNoSuchContainer(err));
}

/**
 * The engine id of the one container a listing failed on, when the engine says it no longer has that
 * container's storage (Podman: `getting container from store "<id>": container not known`); otherwise null.
 */
export function containerWithoutStorage(err: unknown): string | null {
  if (status(err) !== 500) return null;
  return /getting container from store "([0-9a-f]{64})": container not known/i.exec(engineMessage(err))?.[1] ?? null;
}

export function isNoSuchVolume(err: unknown): boolean {
  return status(err) === 404 || /no such volume/i.test(engineMessage(err));
}

export function isRemovalInProgress(err: unknown): boolean {
  return /removal .*(already )?in progress|is being removed/i.test(engineMessage(err));
}

export function isNameConflict(err: unknown): boolean {
  return status(err) === 409 || /already in use/i.test(engineMessage(err));
}

export function isImageMissing(err: unknown): boolean {
  return /no such image|image not known|image .*not found|pull access denied|repository .*not found/i.test(engineMessage(err));
}

export function isNetworkMissing(err: unknown): boolean {
  return /network .*not found|no such network|network not found/i.test(engineMessage(err));
}

export function transient(op: string, err: unknown): ComputeError {
  const e = engineError(err);
  const detail = e.statusCode === undefined && e.code ? e.code : engineMessage(err);
  return new ComputeError('transient', `docker ${op} failed: ${detail.slice(0, 300)}`, e.statusCode);
}
