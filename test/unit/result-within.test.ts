import { resultWithin } from '../../api/services/result-within';

describe('resultWithin', () => {
  it('gives the value when the promise settles in time', async () => {
    await expect(resultWithin(Promise.resolve(42), 1000)).resolves.toBe(42);
  });

  it('gives null when the time runs out first', async () => {
    const slow = new Promise<number>((resolve) => setTimeout(() => resolve(1), 200).unref());
    await expect(resultWithin(slow, 10)).resolves.toBeNull();
  });

  it('passes a rejection within the time through', async () => {
    await expect(resultWithin(Promise.reject(new Error('boom')), 1000)).rejects.toThrow('boom');
  });
});
