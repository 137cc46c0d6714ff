import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readTemplateFiles, TEMPLATE_FILE_LIMITS } from '../../activities/template-files';

let base: string;
let root: string;
beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), 'template-files-'));
  root = join(base, 'root');
  mkdirSync(join(root, 'engineer', 'skills', 'review'), { recursive: true });
  writeFileSync(join(root, 'engineer', 'system-prompt.md'), 'You are an engineer.');
  writeFileSync(join(root, 'engineer', 'skills', 'review', 'SKILL.md'), '# review');
  writeFileSync(join(root, 'engineer', '.env'), 'SECRET_KEY=must-not-be-copied');
  writeFileSync(join(root, 'shared.md'), 'shared');
  writeFileSync(join(base, 'outside.txt'), 'outside the root');
});
afterEach(() => rmSync(base, { recursive: true, force: true }));

const paths = (files: Array<{ path: string }>) => files.map((f) => f.path).sort();

describe('readTemplateFiles (A6.1)', () => {
  it('copies every regular file under files_dir, not .env', async () => {
    const files = await readTemplateFiles(root, 'engineer');
    expect(paths(files)).toEqual(['skills/review/SKILL.md', 'system-prompt.md']);
    expect(files.find((f) => f.path === 'system-prompt.md')?.content.toString()).toBe('You are an engineer.');
  });

  it('puts plugin files under their prefix', async () => {
    expect(paths(await readTemplateFiles(root, 'engineer/skills', 'plugins/x'))).toEqual(['plugins/x/review/SKILL.md']);
  });

  it('a missing, empty, absolute or non-directory files_dir gives nothing', async () => {
    expect(await readTemplateFiles(root, 'nope')).toEqual([]);
    expect(await readTemplateFiles(root, '')).toEqual([]);
    expect(await readTemplateFiles(root, '/etc')).toEqual([]);
    expect(await readTemplateFiles(root, 'shared.md')).toEqual([]);
  });

  it('a symlink inside the root copies its target; one out of the root is a template error', async () => {
    symlinkSync(join(root, 'shared.md'), join(root, 'engineer', 'linked.md'));
    expect(paths(await readTemplateFiles(root, 'engineer'))).toContain('linked.md');
    symlinkSync(join(base, 'outside.txt'), join(root, 'engineer', 'escape.txt'));
    await expect(readTemplateFiles(root, 'engineer')).rejects.toMatchObject({ code: 'include_escape' });
  });

  it('files_dir itself may not climb out or resolve out of the root', async () => {
    await expect(readTemplateFiles(root, '../')).rejects.toMatchObject({ code: 'include_escape' });
    symlinkSync(base, join(root, 'up'));
    await expect(readTemplateFiles(root, 'up')).rejects.toMatchObject({ code: 'include_escape' });
  });

  it('a symlink cycle is an error, not an endless walk', async () => {
    symlinkSync(join(root, 'engineer'), join(root, 'engineer', 'skills', 'loop'));
    await expect(readTemplateFiles(root, 'engineer')).rejects.toMatchObject({ code: 'include_escape' });
  });

  it('bounds file size and path length', async () => {
    writeFileSync(join(root, 'engineer', 'big.bin'), Buffer.alloc(TEMPLATE_FILE_LIMITS.maxFileBytes + 1));
    await expect(readTemplateFiles(root, 'engineer')).rejects.toMatchObject({ code: 'file_too_large' });
    rmSync(join(root, 'engineer', 'big.bin'));
    writeFileSync(join(root, 'engineer', `${'n'.repeat(120)}.md`), 'x');
    await expect(readTemplateFiles(root, 'engineer')).rejects.toMatchObject({ code: 'invalid_include_path' });
  });
});
