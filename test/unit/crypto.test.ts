import {
  constantTimeEqual,
  createSecretBox,
  DecryptError,
  hashToken,
  newAuthToken,
  parseSecretsKey,
  secretBoxFromConfig,
} from '../../activities/crypto';

const KEY = '11'.repeat(32);

describe('secret box (AES-256-GCM)', () => {
  const box = createSecretBox(parseSecretsKey(KEY));

  it('round-trips and never stores plaintext', () => {
    const sealed = box.seal('sk-very-secret');
    expect(sealed).not.toContain('sk-very-secret');
    expect(box.open(sealed)).toBe('sk-very-secret');
    expect(box.seal('x')).not.toBe(box.seal('x')); // fresh IV each time
  });

  it('fails with a detail-free error on tampering or a wrong key', () => {
    const sealed = box.seal('value');
    const parts = sealed.split(':');
    parts[3] = Buffer.from('tampered').toString('base64');
    expect(() => box.open(parts.join(':'))).toThrow(DecryptError);
    const other = createSecretBox(parseSecretsKey('22'.repeat(32)));
    try {
      other.open(sealed);
      throw new Error('should not decrypt');
    } catch (err) {
      expect(err).toBeInstanceOf(DecryptError);
      expect((err as Error).message).toBe('decrypt failed');
    }
    expect(() => box.open('garbage')).toThrow(DecryptError);
  });

  it('accepts hex or base64 keys of 32 bytes only', () => {
    expect(parseSecretsKey(Buffer.alloc(32, 3).toString('base64')).length).toBe(32);
    expect(() => parseSecretsKey('abcd')).toThrow(/32 bytes/);
  });

  it('without a key refuses to seal anything', () => {
    expect(() => secretBoxFromConfig('').seal('x')).toThrow(DecryptError);
  });
});

describe('tokens', () => {
  it('are random, prefixed, and hashed with sha256 hex', () => {
    const a = newAuthToken();
    expect(a).toMatch(/^mol_[A-Za-z0-9_-]{43}$/);
    expect(newAuthToken()).not.toBe(a);
    expect(hashToken(a)).toMatch(/^[0-9a-f]{64}$/);
  });

  it('of a provision run are deterministic per workspace and run, distinct otherwise, and need the key', () => {
    const box = createSecretBox(parseSecretsKey(KEY));
    const t = box.agentTokenForRun('ws-1', 'run-1');
    expect(t).toMatch(/^mol_[A-Za-z0-9_-]{43}$/);
    expect(box.agentTokenForRun('ws-1', 'run-1')).toBe(t);
    expect(box.agentTokenForRun('ws-1', 'run-2')).not.toBe(t);
    expect(box.agentTokenForRun('ws-2', 'run-1')).not.toBe(t);
    expect(createSecretBox(parseSecretsKey('22'.repeat(32))).agentTokenForRun('ws-1', 'run-1')).not.toBe(t);
    expect(() => secretBoxFromConfig('').agentTokenForRun('ws-1', 'run-1')).toThrow(DecryptError);
  });

  it('constantTimeEqual compares any lengths correctly', () => {
    expect(constantTimeEqual('abc', 'abc')).toBe(true);
    expect(constantTimeEqual('abc', 'abd')).toBe(false);
    expect(constantTimeEqual('abc', 'abcd')).toBe(false);
    expect(constantTimeEqual('', '')).toBe(true);
  });
});
