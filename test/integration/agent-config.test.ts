// Issue #15 (A6, A7): what the agent receives from its template. An on-disk template with a files_dir
// (a system prompt, a skill, a nested file), a plugin, `.env` files and a persona is imported; the
// running container's /configs and env are read through the Docker API. Then PUT /workspaces/:id/files,
// a plain restart (keeps the user's edits) and a rebuild_config restart (writes the stored files anew).
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parse } from 'yaml';
import { containerName } from '../../domain/vocabulary';
import { tarFiles } from '../../activities/tar';
import type { RestartResult } from '../../workflows/definitions';
import { bootstrapFromUserData, removeWorkspaceContainer } from './support/compute';
import { startPlatform, waitFor, type Platform } from './support/platform';

let p: Platform;
let root: string;
let personas: string;
const created: string[] = [];

function write(base: string, files: Record<string, string>): void {
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(dirname(join(base, rel)), { recursive: true });
    writeFileSync(join(base, rel), text);
  }
}

/** /configs of a workspace's container, as files (path → text), read through the engine's archive API. */
async function configsOf(id: string): Promise<Record<string, string>> {
  const stream = await p.docker.getContainer(containerName(id)).getArchive({ path: '/configs/.' });
  const chunks: Buffer[] = [];
  for await (const c of stream as AsyncIterable<Buffer>) chunks.push(c);
  const tar = Buffer.concat(chunks);
  const out: Record<string, string> = {};
  for (let off = 0; off + 512 <= tar.length; ) {
    const name = tar.subarray(off, off + 100).toString('utf8').replace(/\0.*$/s, '');
    if (!name) break;
    const prefix = tar.subarray(off + 345, off + 500).toString('utf8').replace(/\0.*$/s, '');
    const size = parseInt(tar.subarray(off + 124, off + 136).toString('ascii').replace(/\0/g, '').trim() || '0', 8);
    const type = tar.subarray(off + 156, off + 157).toString('ascii');
    const full = (prefix ? `${prefix}/${name}` : name).replace(/^\.\//, '').replace(/^configs\//, '');
    if (type === '0' || type === '\0') out[full] = tar.subarray(off + 512, off + 512 + size).toString('utf8');
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

async function containerEnv(id: string): Promise<Record<string, string>> {
  const info = await p.docker.getContainer(containerName(id)).inspect();
  return Object.fromEntries((info.Config.Env ?? []).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
}

async function importDir(dir: string): Promise<{ status: number; importId?: string; body: unknown }> {
  const res = await p.api<{ import_id: string }>('POST', '/org/import', { dir });
  return { status: res.status, importId: res.body.import_id, body: res.body };
}

async function workspaceOf(importId: string, name: string): Promise<string> {
  const id = await waitFor(`${name} created`, async () => {
    const { rows } = await p.clients.pool.query<{ id: string }>('SELECT id FROM workspaces WHERE org_import_id = $1 AND name = $2', [importId, name]);
    return rows[0]?.id ?? null;
  });
  created.push(id);
  return id;
}

async function restartAndWait(id: string, body: Record<string, unknown>): Promise<void> {
  const res = await p.api<{ run_id: string }>('POST', `/workspaces/${id}/restart`, body);
  expect(res.status).toBe(202);
  await p.temporal.workflow.getHandle<() => Promise<RestartResult>>(`restart-${id}`, res.body.run_id).result();
  await waitFor('online after restart', async () => (await p.api<{ status: string }>('GET', `/workspaces/${id}`)).body.status === 'online' || null);
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'agent-config-'));
  personas = mkdtempSync(join(tmpdir(), 'personas-'));
  write(join(root, 'team'), {
    'org.yaml': `name: Config Org
defaults:
  runtime: claude-code
  compute: docker
  plugins: [lint]
  env: { SHARED: from-defaults }
workspaces:
  - name: Engineer
    files_dir: engineer
    env: { YAML_KEY: yaml, OVERRIDE: yaml-wins }
  - name: Cloud Engineer
    files_dir: engineer
    compute: ec2
    plugins: ["-lint"]
    system_prompt: "Inline prompt wins"
`,
    '.env': 'ROOT_KEY=root\nSHARED=from-root\nOVERRIDE=root\n# comment\nbad line\n',
    'engineer/.env': 'DIR_KEY=dir\nOVERRIDE=dir\n',
    'engineer/system-prompt.md': 'You are an engineer.',
    'engineer/skills/review/SKILL.md': '# Review',
    'engineer/notes/readme.txt': 'nested',
    'plugins/lint/plugin.json': '{"name":"lint"}',
  });
  write(personas, { 'engineer/env': 'PERSONA_KEY=persona\nROOT_KEY=from-persona\n' });
  // Config directories beside the org templates (A6.4): one named by template, one matched by a name.
  write(root, { 'reviewer-kit/system-prompt.md': 'You review.', 'eng-kit/config.yaml': 'name: engineer\n', 'eng-kit/system-prompt.md': 'Matched by config.yaml name.' });
  write(join(root, 'escape'), { 'org.yaml': 'name: Escape Org\nworkspaces:\n  - name: Escaper\n    runtime: external\n    files_dir: bad\n' });
  mkdirSync(join(root, 'escape', 'bad'));
  writeFileSync(join(personas, 'outside.txt'), 'LEAKED-CONTENT-7f3a');
  symlinkSync(join(personas, 'outside.txt'), join(root, 'escape', 'bad', 'leak.txt'));
  p = await startPlatform({ env: { TEMPLATES_ROOT: root, MOLECULE_PERSONA_ROOT: personas } });
});
afterAll(async () => {
  for (const id of created) await removeWorkspaceContainer(p, id);
  await p?.close();
  rmSync(root, { recursive: true, force: true });
  rmSync(personas, { recursive: true, force: true });
});

describe('what the agent receives from its template', () => {
  it('/configs holds config.yaml, the files_dir and the plugin, no .env; env is layered persona < root .env < files_dir/.env < defaults.env < env', async () => {
    const run = await importDir('team');
    expect(run.status).toBe(202);
    const id = await workspaceOf(run.importId!, 'Engineer');
    await waitFor('online', async () => (await p.api<{ status: string }>('GET', `/workspaces/${id}`)).body.status === 'online' || null, 60_000);

    const configs = await configsOf(id);
    expect(Object.keys(configs).sort()).toEqual(['.auth_token', 'config.yaml', 'notes/readme.txt', 'plugins/lint/plugin.json', 'skills/review/SKILL.md', 'system-prompt.md']);
    expect(configs['system-prompt.md']).toBe('You are an engineer.');
    expect(parse(configs['config.yaml'])).toEqual({ name: 'Engineer', prompt_files: ['system-prompt.md'], skills: ['review'] });

    const env = await containerEnv(id);
    expect(env).toMatchObject({ PERSONA_KEY: 'persona', ROOT_KEY: 'root', DIR_KEY: 'dir', SHARED: 'from-defaults', YAML_KEY: 'yaml', OVERRIDE: 'yaml-wins' });

    // The EC2 sibling gets the same files over the API, never in user data; its inline prompt wins.
    const cloud = await workspaceOf(run.importId!, 'Cloud Engineer');
    const instanceId = await waitFor('instance id', async () => (await p.clients.pool.query('SELECT instance_id FROM workspaces WHERE id = $1', [cloud])).rows[0].instance_id as string | null);
    const { script, values } = await bootstrapFromUserData(p, instanceId);
    expect(script).not.toContain('You are an engineer');
    const boot = await p.api<{ files: Array<{ path: string; content_base64: string }> }>('POST', '/registry/bootstrap', { workspace_id: cloud }, values.BOOTSTRAP_CREDENTIAL);
    expect(boot.status).toBe(200);
    const files = Object.fromEntries(boot.body.files.map((f) => [f.path, Buffer.from(f.content_base64, 'base64').toString('utf8')]));
    expect(files['system-prompt.md']).toBe('Inline prompt wins');
    expect(files['plugins/lint/plugin.json']).toBeUndefined(); // opted out with "-lint"
    expect(parse(files['config.yaml'])).toMatchObject({ name: 'Cloud Engineer', skills: ['review'] });
    expect((await p.api('DELETE', `/workspaces/${cloud}?confirm=true`)).status).toBe(200);
    await waitFor('import finished', async () => (await p.api<{ status: string }>('GET', `/org/imports/${run.importId}`)).body.status !== 'running' || null, 60_000);
  });

  it('a plain restart keeps the user edits in /configs; rebuild_config writes the stored files anew; PUT files replaces them', async () => {
    const [id] = created;
    // A user edit inside the running container's volume.
    await p.docker.getContainer(containerName(id)).putArchive(tarFiles({ 'user-note.md': 'mine' }), { path: '/configs' });
    await restartAndWait(id, {});
    expect((await configsOf(id))['user-note.md']).toBe('mine');

    await restartAndWait(id, { rebuild_config: true });
    const rebuilt = await configsOf(id);
    expect(rebuilt['user-note.md']).toBeUndefined();
    expect(rebuilt['system-prompt.md']).toBe('You are an engineer.');

    const put = await p.api<{ status: string; count: number; restart: { run_id: string } }>('PUT', `/workspaces/${id}/files`, {
      files: [{ path: 'system-prompt.md', content: 'New prompt' }, { path: 'bin/tool.bin', content_base64: Buffer.from([0, 1, 2]).toString('base64') }],
    });
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({ status: 'saved', count: 2 });
    await p.temporal.workflow.getHandle<() => Promise<RestartResult>>(`restart-${id}`, put.body.restart.run_id).result();
    await waitFor('online after the files restart', async () => (await p.api<{ status: string }>('GET', `/workspaces/${id}`)).body.status === 'online' || null);
    const replaced = await configsOf(id);
    expect(Object.keys(replaced).sort()).toEqual(['.auth_token', 'bin/tool.bin', 'config.yaml', 'system-prompt.md']);
    expect(replaced['system-prompt.md']).toBe('New prompt');
    const listed = await p.api<{ files: Array<{ path: string; size: number }> }>('GET', `/workspaces/${id}/files`);
    expect(listed.body.files).toEqual([expect.objectContaining({ path: 'bin/tool.bin', size: 3 }), expect.objectContaining({ path: 'system-prompt.md', size: 10 })]);

    for (const bad of [
      { files: [{ path: '../x', content: 'x' }] },
      { files: [{ path: '/abs', content: 'x' }] },
      { files: [{ path: '.auth_token', content: 'x' }] },
      { files: [{ path: 'a', content: 'x', content_base64: 'eA==' }] },
      { files: [{ path: 'a', content: 'x' }, { path: 'a', content: 'y' }] },
      { files: [{ path: `${'n'.repeat(101)}`, content: 'x' }] },
    ]) {
      const res = await p.api('PUT', `/workspaces/${id}/files`, bad);
      expect(res.status).toBe(400);
      expect(JSON.stringify(res.body)).not.toContain('../x');
    }
  });

  it('restart takes /configs from a named template directory or the one matched by name (A6.4)', async () => {
    const [id] = created;
    const res = await p.api<{ run_id: string; config_source: string; reset_session: boolean }>('POST', `/workspaces/${id}/restart`, { template: 'reviewer-kit' });
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ config_source: 'template:reviewer-kit', reset_session: true });
    await p.temporal.workflow.getHandle<() => Promise<RestartResult>>(`restart-${id}`, res.body.run_id).result();
    await waitFor('online', async () => (await p.api<{ status: string }>('GET', `/workspaces/${id}`)).body.status === 'online' || null);
    expect((await configsOf(id))['system-prompt.md']).toBe('You review.');

    // apply_template: no directory is named like the workspace ("Engineer" → engineer/), but eng-kit's
    // config.yaml names it (case-insensitively).
    const applied = await p.api<{ run_id: string; config_source: string }>('POST', `/workspaces/${id}/restart`, { apply_template: true });
    expect(applied.body.config_source).toBe('template:eng-kit');
    await p.temporal.workflow.getHandle<() => Promise<RestartResult>>(`restart-${id}`, applied.body.run_id).result();
    await waitFor('online', async () => (await p.api<{ status: string }>('GET', `/workspaces/${id}`)).body.status === 'online' || null);
    expect((await configsOf(id))['system-prompt.md']).toBe('Matched by config.yaml name.');

    for (const template of ['no-such-dir', '../team', 'team/engineer']) {
      const missing = await p.api<{ code: string }>('POST', `/workspaces/${id}/restart`, { template });
      expect(missing.status).toBe(404);
      expect(JSON.stringify(missing.body)).not.toContain(template);
    }
    const plain = await p.api<{ config_source: string; reset_session: boolean }>('POST', `/workspaces/${id}/restart`, {});
    expect(plain.body).toMatchObject({ config_source: 'volume', reset_session: false });
  });

  it('a symlink out of the template root is a template error, not a copy', async () => {
    const res = await importDir('escape');
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ code: 'INVALID_TEMPLATE', template_error: 'include_escape' });
    expect(JSON.stringify(res.body)).not.toContain('LEAKED-CONTENT-7f3a');
  });
});
