import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tarFiles } from '../../activities/tar';

describe('tarFiles', () => {
  it('produces blocks of 512 with two zero blocks at the end', () => {
    const tar = tarFiles({ '.auth_token': 'abc' });
    expect(tar.length % 512).toBe(0);
    expect(tar.length).toBe(512 + 512 + 1024);
    expect(tar.subarray(-1024).every((b) => b === 0)).toBe(true);
  });

  it('extracts with the system tar, contents and 0600 mode intact', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tar-test-'));
    try {
      const long = 'n'.repeat(100);
      const big = Buffer.alloc(1500, 7);
      writeFileSync(join(dir, 'a.tar'), tarFiles({ '.auth_token': 'mol_secret', [long]: big, 'empty': '' }));
      execFileSync('tar', ['-xf', 'a.tar'], { cwd: dir });
      expect(readFileSync(join(dir, '.auth_token'), 'utf8')).toBe('mol_secret');
      expect(readFileSync(join(dir, long)).equals(big)).toBe(true);
      expect(readFileSync(join(dir, 'empty'), 'utf8')).toBe('');
      expect(statSync(join(dir, '.auth_token')).mode & 0o777).toBe(0o600);
      const listing = execFileSync('tar', ['-tvf', 'a.tar'], { cwd: dir }).toString();
      expect(listing).toContain('.auth_token');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rejects names it cannot represent', () => {
    expect(() => tarFiles({ ['x'.repeat(101)]: 'a' })).toThrow(/100 bytes/);
    expect(() => tarFiles({ 'a\0b': 'a' })).toThrow(/NUL/);
  });
});
