import { freshListing } from '../../activities/fresh-listing';

/** A listing whose every call waits to be released; `state` is what the engine holds when it starts. */
function gatedListing() {
  const calls: Array<{ sawState: number; release: () => void; fail: (e: Error) => void }> = [];
  let state = 0;
  const list = freshListing(
    () =>
      new Promise<number>((resolve, reject) => {
        const sawState = state;
        calls.push({ sawState, release: () => resolve(sawState), fail: reject });
      }),
  );
  return { list, calls, setState: (s: number) => (state = s) };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('freshListing', () => {
  it('callers arriving while a listing runs share the next one, never the running one', async () => {
    const { list, calls, setState } = gatedListing();
    const first = list();
    setState(1); // a container is created after the first listing started
    const second = list();
    const third = list();
    expect(calls).toHaveLength(1);
    calls[0].release();
    expect(await first).toBe(0);
    await tick();
    // The second and third callers called after the change: their listing started after it.
    expect(calls).toHaveLength(2);
    calls[1].release();
    expect(await Promise.all([second, third])).toEqual([1, 1]);
  });

  it('a caller with nothing running starts a listing of its own at once', async () => {
    const { list, calls } = gatedListing();
    const a = list();
    calls[0].release();
    await a;
    const b = list();
    expect(calls).toHaveLength(2);
    calls[1].release();
    await b;
  });

  it('a failed listing fails its callers only; the queued callers get the next listing', async () => {
    const { list, calls, setState } = gatedListing();
    const first = list();
    setState(2);
    const queued = list();
    calls[0].fail(new Error('engine down'));
    await expect(first).rejects.toThrow('engine down');
    await tick();
    expect(calls).toHaveLength(2);
    calls[1].release();
    expect(await queued).toBe(2);
  });
});
