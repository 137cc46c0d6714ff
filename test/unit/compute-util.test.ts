import { boundedText } from '../../activities/compute-util';

describe('boundedText (container logs and EC2 console output)', () => {
  it('returns output within the limit whole', () => {
    expect(boundedText(Buffer.from('héllo', 'utf8'), 64)).toBe('héllo');
  });

  it('keeps the newest bytes and drops a character the cut split', () => {
    const buf = Buffer.from('aébcd', 'utf8'); // 61 c3 a9 62 63 64: a 4-byte cut starts inside 'é'
    expect(boundedText(buf, 5)).toBe('ébcd');
    expect(boundedText(buf, 4)).toBe('bcd');
    expect(boundedText(buf, 3)).toBe('bcd');
  });

  it('never returns more than the limit', () => {
    const buf = Buffer.from('€'.repeat(100), 'utf8'); // 3 bytes each
    const text = boundedText(buf, 10);
    expect(Buffer.byteLength(text, 'utf8')).toBeLessThanOrEqual(10);
    expect(text).toBe('€€€');
  });
});
