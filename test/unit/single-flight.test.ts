import { singleFlight } from '../../api/services/single-flight';

describe('singleFlight', () => {
  it('shares one call among concurrent identical requests, then starts fresh', async () => {
    let calls = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const read = singleFlight((id: string) => id, async (id: string) => {
      calls++;
      await gate;
      return `${id}:${calls}`;
    });
    const a = read('x');
    const b = read('x');
    const c = read('y');
    release();
    expect(await Promise.all([a, b, c])).toEqual(['x:2', 'x:2', 'y:2']);
    expect(calls).toBe(2);
    expect(await read('x')).toBe('x:3');
  });

  it('shares failures too, and recovers afterwards', async () => {
    let n = 0;
    const read = singleFlight(() => 'k', async () => {
      n++;
      if (n === 1) throw new Error('boom');
      return n;
    });
    await expect(Promise.all([read(), read()])).rejects.toThrow('boom');
    expect(n).toBe(1);
    expect(await read()).toBe(2);
  });
});
