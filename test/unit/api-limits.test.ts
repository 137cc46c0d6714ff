import { BODY_LIMIT_BYTES, describeBytes } from '../../api/limits';

describe('describeBytes (limits quoted in error answers)', () => {
  it('states a limit exactly in the largest fitting unit', () => {
    expect(describeBytes(BODY_LIMIT_BYTES)).toBe('1 MiB');
    expect(describeBytes(2 * 1024 * 1024)).toBe('2 MiB');
    expect(describeBytes(1536 * 1024)).toBe('1536 KiB');
    expect(describeBytes(512 * 1024)).toBe('512 KiB');
    expect(describeBytes(1000)).toBe('1000 bytes');
  });
});
