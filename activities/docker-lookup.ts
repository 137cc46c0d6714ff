// What the Docker adapter finds by label, always within this deployment's scope (DOCKER_EXTRA_LABELS):
// every managed container and volume (for the sweeper), and one workspace's (for the paths that must
// also find containers and volumes under an older name, or renamed).
import type Docker from 'dockerode';
import { MANAGED_LABEL, WORKSPACE_ID_LABEL } from '../domain/vocabulary';
import { sleep } from './compute-util';
import { containerWithoutStorage, isListingRacedByRemoval, isNoSuchContainer, isRemovalInProgress, transient } from './docker-errors';
import { freshListing } from './fresh-listing';

export interface ManagedContainer {
  id: string;
  name: string;
  workspaceId: string | null;
  running: boolean;
  labels: Record<string, string>;
}

export interface ManagedVolume {
  name: string;
  workspaceId: string | null;
}

/** Waits before listing again after a listing failed on a container being removed. */
const LISTING_RETRY_DELAYS_MS = [50, 200];
/** Containers without storage one listing removes at most before it gives up (each removal, then a new try). */
const MAX_BROKEN_REMOVED_PER_LISTING = 3;

/**
 * Removes a container by its engine id, never by its name; a missing one, or one already being removed,
 * is done. Podman 4 first tries a name (or id) it is given as a storage-only container (`ContainerRm` →
 * `RemoveStorageContainer`), and a create of that name is one, between writing its storage and its
 * database entry: a forced remove by name then deletes the storage of a create in flight, which goes on
 * to commit a container without storage, and every listing that holds it fails (`container not known`;
 * seen in CI). An id comes from an inspect or a listing, both of which read the database, so it names a
 * container past that point.
 */
export async function forceRemoveContainer(docker: Docker, containerId: string): Promise<void> {
  try {
    await docker.getContainer(containerId).remove({ force: true });
  } catch (err) {
    if (isNoSuchContainer(err) || isRemovalInProgress(err)) return;
    throw transient('remove', err);
  }
}

export function createDockerLookup(docker: Docker, extraLabels: Record<string, string>, log: { warn(obj: object, msg?: string): void }) {
  const scopeFilters = () => [`${MANAGED_LABEL}=true`, ...Object.entries(extraLabels).map(([k, v]) => `${k}=${v}`)];
  // Podman 4.3 ORs several `label` filters on GET /volumes (Docker ANDs them; containers AND on both),
  // so every listing is re-checked here: a volume of another deployment must never look like ours.
  const inScope = (labels: Record<string, string> | null | undefined): boolean =>
    !!labels && labels[MANAGED_LABEL] === 'true' && Object.entries(extraLabels).every(([k, v]) => labels[k] === v);

  // Every lookup is a filter over one listing of the deployment's managed containers (or volumes), shared
  // by concurrent callers (fresh-listing.ts). Alone, one workspace's label-filtered listing costs Podman
  // about a fifth of the whole scope's (it filters before it describes), but each walks every container:
  // under a burst, lookups that listed only their own workspace while fewer than four ran made the burst
  // slower than sharing does (B2: 2.03x against 1.67x, 9 rounds each).
  const toContainer = (c: Docker.ContainerInfo): ManagedContainer => ({
    id: c.Id,
    name: (c.Names?.[0] ?? '').replace(/^\//, ''),
    workspaceId: c.Labels?.[WORKSPACE_ID_LABEL] ?? null,
    running: c.State === 'running',
    labels: c.Labels ?? {},
  });
  /**
   * Removes, by engine id, a container a listing of ours failed on because the engine has no storage for
   * it. It is ours: the engine matched it against this listing's label filter (Podman filters by label
   * before it describes, which is where it fails), so it carries this deployment's labels. Without storage
   * it can never run; and until it is gone every listing that holds it fails (seen here after a container's
   * create was raced by a removal by name: Podman's database kept a `Created` entry whose storage was gone).
   */
  const removeBroken = async (containerId: string, listingError: unknown): Promise<void> => {
    log.warn({ containerId }, 'removing a container of this deployment the engine has no storage for (it fails every listing)');
    await forceRemoveContainer(docker, containerId).catch(() => {
      throw transient('list', listingError);
    });
  };
  const listContainers = async (labelFilters: string[]): Promise<ManagedContainer[]> => {
    const removed = new Set<string>();
    for (let attempt = 0; ; attempt++) {
      try {
        const list = await docker.listContainers({ all: true, filters: { label: labelFilters } });
        return list.filter((c) => inScope(c.Labels)).map(toContainer);
      } catch (err) {
        // Raced by a removal that finishes a moment later (the liveness pass and the sweeper list while
        // deletes run): listed again. One that stays broken after that is removed, then listed again.
        if (attempt < LISTING_RETRY_DELAYS_MS.length && isListingRacedByRemoval(err)) {
          await sleep(LISTING_RETRY_DELAYS_MS[attempt]);
          continue;
        }
        const broken = containerWithoutStorage(err);
        if (broken && !removed.has(broken) && removed.size < MAX_BROKEN_REMOVED_PER_LISTING) {
          removed.add(broken);
          await removeBroken(broken, err);
          continue;
        }
        throw transient('list', err);
      }
    }
  };
  const managedContainers = freshListing(() => listContainers(scopeFilters()));

  const managedVolumes = freshListing(async (): Promise<ManagedVolume[]> => {
    try {
      const { Volumes } = await docker.listVolumes({ filters: { label: scopeFilters() } });
      return (Volumes ?? []).filter((v) => inScope(v.Labels)).map((v) => ({ name: v.Name, workspaceId: v.Labels?.[WORKSPACE_ID_LABEL] ?? null }));
    } catch (err) {
      throw transient('volume list', err);
    }
  });

  /**
   * This workspace's containers in this deployment's scope, found by label: the current name and any
   * older one alike (`ws-<first 12 chars>` before names carried the full id, or a renamed container).
   *
   * When the shared listing still fails (after its retries and the removal of containers without storage),
   * the workspace's own label-filtered listing answers. Podman fails a whole listing when ONE container in
   * it cannot be described (`getting container from store "<id>": container not known`; seen in CI, where
   * Docker provisions then failed until the run timed out). The engine filters by label before it
   * describes, so another workspace's broken container must not stop this one's provision, stop or delete.
   * (Volume listings describe no container, so they need no such fallback.)
   */
  async function labelledContainers(workspaceId: string): Promise<ManagedContainer[]> {
    const mine = (all: ManagedContainer[]) => all.filter((c) => c.workspaceId === workspaceId);
    try {
      return mine(await managedContainers());
    } catch {
      return mine(await listContainers([...scopeFilters(), `${WORKSPACE_ID_LABEL}=${workspaceId}`]));
    }
  }

  /** This workspace's volumes by label (the current config volume and any older-named one). */
  async function labelledVolumes(workspaceId: string): Promise<string[]> {
    return (await managedVolumes()).filter((v) => v.workspaceId === workspaceId).map((v) => v.name);
  }

  // Copies: callers share the listing, and none may change what another one reads.
  const listManagedContainers = async (): Promise<ManagedContainer[]> => [...(await managedContainers())];
  const listManagedVolumes = async (): Promise<ManagedVolume[]> => [...(await managedVolumes())];

  return { labelledContainers, labelledVolumes, listManagedContainers, listManagedVolumes };
}
