// Waiting a bounded time for work that goes on regardless (a workflow, a dependency probe): the API
// answers on time and the caller decides what "not yet" means.

/**
 * `promise`'s value if it settles within `ms`, else null; a rejection within `ms` passes through. The
 * timer is cleared as soon as the promise settles, so a fast answer leaves nothing holding the process.
 */
export async function resultWithin<T>(promise: Promise<T>, ms: number): Promise<T | null> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
