import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TAR_BLOCK, tarFiles } from '../../activities/tar';

/** Reads a NUL- or space-terminated octal field of a header. */
function octalField(h: Buffer, offset: number, width: number): number {
  const text = h.subarray(offset, offset + width).toString('ascii').replace(/[\0 ]+$/, '').replace(/\0.*$/, '');
  return parseInt(text, 8);
}

function expectedChecksum(h: Buffer): number {
  const copy = Buffer.from(h);
  copy.fill(0x20, 148, 156);
  return copy.reduce((sum, b) => sum + b, 0);
}

describe('tarFiles', () => {
  it('writes one header block, padded content and two zero end blocks', () => {
    const tar = tarFiles({ '.auth_token': 'abc' }, { mtime: 1_700_000_000 });
    expect(tar.length).toBe(TAR_BLOCK + TAR_BLOCK + 2 * TAR_BLOCK);
    expect(tar.subarray(TAR_BLOCK, TAR_BLOCK + 3).toString()).toBe('abc');
    expect(tar.subarray(TAR_BLOCK + 3, 2 * TAR_BLOCK).every((b) => b === 0)).toBe(true);
    expect(tar.subarray(-2 * TAR_BLOCK).every((b) => b === 0)).toBe(true);
  });

  it('fills the ustar header fields: name, mode 0600, owner, size, mtime, type, magic, checksum', () => {
    const tar = tarFiles({ '.auth_token': 'mol_secret' }, { mtime: 1_700_000_000 });
    const h = tar.subarray(0, TAR_BLOCK);
    expect(h.subarray(0, 100).toString('utf8').replace(/\0+$/, '')).toBe('.auth_token');
    expect(octalField(h, 100, 8)).toBe(0o600);
    expect(octalField(h, 108, 8)).toBe(0);
    expect(octalField(h, 116, 8)).toBe(0);
    expect(octalField(h, 124, 12)).toBe('mol_secret'.length);
    expect(h.subarray(124, 136).toString('ascii')).toBe('00000000012\0'); // 11 octal digits + NUL
    expect(octalField(h, 136, 12)).toBe(1_700_000_000);
    expect(String.fromCharCode(h[156])).toBe('0');
    expect(h.subarray(257, 263).toString('ascii')).toBe('ustar\0');
    expect(h.subarray(263, 265).toString('ascii')).toBe('00');
    expect(h.subarray(148, 156).toString('ascii')).toMatch(/^[0-7]{6}\0 $/);
    expect(octalField(h, 148, 8)).toBe(expectedChecksum(h));
  });

  it('sizes and pads content at block boundaries (0, 511, 512, 513 bytes)', () => {
    for (const size of [0, 511, 512, 513]) {
      const tar = tarFiles({ f: Buffer.alloc(size, 1) }, { mtime: 0 });
      const dataBlocks = Math.ceil(size / TAR_BLOCK);
      expect(tar.length).toBe(TAR_BLOCK * (1 + dataBlocks + 2));
      expect(octalField(tar, 124, 12)).toBe(size);
    }
  });

  it('stores a name of exactly 100 bytes without a terminator', () => {
    const name = 'n'.repeat(100);
    const h = tarFiles({ [name]: 'x' }, { mtime: 0 }).subarray(0, TAR_BLOCK);
    expect(h.subarray(0, 100).toString('utf8')).toBe(name);
    expect(h[100]).not.toBe(0); // the mode field starts right after
  });

  it('is deterministic for a fixed mtime', () => {
    const files = { a: 'one', b: Buffer.from([0, 1, 2]) };
    expect(tarFiles(files, { mtime: 5 }).equals(tarFiles(files, { mtime: 5 }))).toBe(true);
  });

  it('extracts with the system tar: contents, 0600 mode, 100-byte names, binary and empty files', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tar-test-'));
    try {
      const long = 'n'.repeat(100);
      const big = Buffer.alloc(1500, 7);
      mkdirSync(join(dir, 'out'));
      writeFileSync(
        join(dir, 'a.tar'),
        tarFiles({ '.auth_token': 'mol_secret', [long]: big, empty: '', 'sub/nested.txt': 'héllo', exact: Buffer.alloc(512, 0x41) }),
      );
      execFileSync('tar', ['-xf', join(dir, 'a.tar'), '-C', join(dir, 'out')]);
      const out = (p: string) => join(dir, 'out', p);
      expect(readFileSync(out('.auth_token'), 'utf8')).toBe('mol_secret');
      expect(readFileSync(out(long)).equals(big)).toBe(true);
      expect(readFileSync(out('empty'), 'utf8')).toBe('');
      expect(readFileSync(out('sub/nested.txt'), 'utf8')).toBe('héllo');
      expect(readFileSync(out('exact')).equals(Buffer.alloc(512, 0x41))).toBe(true);
      expect(statSync(out('.auth_token')).mode & 0o777).toBe(0o600);
      const listing = execFileSync('tar', ['-tvf', join(dir, 'a.tar')]).toString();
      expect(listing).toMatch(/^-rw------- .*\.auth_token$/m);
      expect(listing.trim().split('\n')).toHaveLength(6); // five files and the directory entry of sub/
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('honours a custom mode', () => {
    expect(octalField(tarFiles({ f: 'x' }, { mode: 0o644 }), 100, 8)).toBe(0o644);
    expect(() => tarFiles({ f: 'x' }, { mode: 0o10000 })).toThrow(/mode/);
  });

  it('rejects names it cannot represent or that escape the target directory', () => {
    expect(() => tarFiles({ ['x'.repeat(101)]: 'a' })).toThrow(/100 bytes/);
    expect(() => tarFiles({ ['é'.repeat(51)]: 'a' })).toThrow(/100 bytes/); // 102 bytes in UTF-8
    expect(() => tarFiles({ 'a\0b': 'a' })).toThrow(/NUL/);
    expect(() => tarFiles({ '': 'a' })).toThrow(/empty/);
    expect(() => tarFiles({ '../etc/passwd': 'a' })).toThrow(/relative/);
    expect(() => tarFiles({ '/etc/passwd': 'a' })).toThrow(/relative/);
  });

  it('an empty file set is just the two end blocks', () => {
    expect(tarFiles({})).toEqual(Buffer.alloc(2 * TAR_BLOCK, 0));
  });
});

describe('tarFiles directories', () => {
  it('writes each parent directory once, before the files in it, with search permission', () => {
    const tar = tarFiles({ 'skills/review/SKILL.md': '# r', 'skills/plan/SKILL.md': '# p', 'a.md': 'a' }, { mtime: 0 });
    const names: Array<[string, string, number]> = [];
    for (let off = 0; off + 512 <= tar.length; ) {
      const name = tar.subarray(off, off + 100).toString('utf8').replace(/\0.*$/s, '');
      if (!name) break;
      const type = tar.subarray(off + 156, off + 157).toString('ascii');
      const mode = parseInt(tar.subarray(off + 100, off + 108).toString('ascii'), 8);
      const size = parseInt(tar.subarray(off + 124, off + 136).toString('ascii'), 8);
      names.push([name, type, mode]);
      off += 512 + Math.ceil(size / 512) * 512;
    }
    expect(names).toEqual([
      ['skills/', '5', 0o700],
      ['skills/review/', '5', 0o700],
      ['skills/review/SKILL.md', '0', 0o600],
      ['skills/plan/', '5', 0o700],
      ['skills/plan/SKILL.md', '0', 0o600],
      ['a.md', '0', 0o600],
    ]);
  });
});
