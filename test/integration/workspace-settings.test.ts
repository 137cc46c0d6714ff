// Issue #15 (A3, A4): secrets listed by name only, saved and deleted per workspace and globally,
// model and provider stored as workspace secrets; every write reaches the running agent through the
// coalesced restart workflow, requested after the write commits.
import { containerName } from '../../domain/vocabulary';
import type { RestartResult } from '../../workflows/definitions';
import { createOnline, removeWorkspaceContainer } from './support/compute';
import { startPlatform, waitFor, type Platform } from './support/platform';

let p: Platform;
const created: string[] = [];
beforeAll(async () => {
  p = await startPlatform();
});
afterAll(async () => {
  for (const id of created) await removeWorkspaceContainer(p, id);
  await p?.close();
});

async function onlineDocker(name: string, extra: Record<string, unknown> = {}): Promise<string> {
  const id = await createOnline(p, { name, compute: 'docker', ...extra });
  created.push(id);
  return id;
}

async function containerEnv(id: string): Promise<Record<string, string>> {
  const info = await p.docker.getContainer(containerName(id)).inspect();
  return Object.fromEntries((info.Config.Env ?? []).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
}

async function restartDone(id: string, runId: string): Promise<RestartResult> {
  return p.temporal.workflow.getHandle<() => Promise<RestartResult>>(`restart-${id}`, runId).result();
}

describe('workspace secrets', () => {
  it('a saved secret reaches the agent through the restart it requests; the list shows names only', async () => {
    const id = await onlineDocker('Settings Secret');
    const saved = await p.api<{ status: string; key: string; restart: { workflow_id: string; run_id: string } }>('PUT', `/workspaces/${id}/secrets/NEW_SECRET`, { value: 'fresh-value-1' });
    expect(saved.status).toBe(200);
    expect(saved.body).toMatchObject({ status: 'saved', key: 'NEW_SECRET', restart: { workflow_id: `restart-${id}` } });
    await restartDone(id, saved.body.restart.run_id);
    await waitFor('online after restart', async () => (await p.api<{ status: string }>('GET', `/workspaces/${id}`)).body.status === 'online');
    expect((await containerEnv(id)).NEW_SECRET).toBe('fresh-value-1');

    const list = await p.api<{ secrets: Array<{ key: string; created_at: string; updated_at: string }> }>('GET', `/workspaces/${id}/secrets`);
    expect(list.status).toBe(200);
    expect(list.body.secrets.map((s) => s.key)).toContain('NEW_SECRET');
    expect(JSON.stringify(list.body)).not.toContain('fresh-value-1');

    const posted = await p.api<{ status: string; key: string }>('POST', `/workspaces/${id}/secrets`, { key: 'OTHER_SECRET', value: 'v' });
    expect(posted.body).toMatchObject({ status: 'saved', key: 'OTHER_SECRET' });

    const deleted = await p.api<{ status: string; restart: { run_id: string } }>('DELETE', `/workspaces/${id}/secrets/NEW_SECRET`);
    expect(deleted.status).toBe(200);
    expect(deleted.body).toMatchObject({ status: 'deleted', key: 'NEW_SECRET' });
    expect((await p.api('DELETE', `/workspaces/${id}/secrets/NEW_SECRET`)).status).toBe(404);
    await restartDone(id, deleted.body.restart.run_id);
    await waitFor('online after the delete restart', async () => (await p.api<{ status: string }>('GET', `/workspaces/${id}`)).body.status === 'online');
    expect((await containerEnv(id)).NEW_SECRET).toBeUndefined();
  });

  it('a burst of secret writes costs at most two restart cycles', async () => {
    const id = await onlineDocker('Settings Burst');
    const answers = await Promise.all(
      Array.from({ length: 12 }, (_, i) => p.api<{ restart: { run_id: string } }>('PUT', `/workspaces/${id}/secrets/BURST_${i}`, { value: `v${i}` })),
    );
    expect(answers.every((a) => a.status === 200)).toBe(true);
    let cycles = 0;
    for (const runId of new Set(answers.map((a) => a.body.restart.run_id))) cycles += (await restartDone(id, runId)).cycles;
    expect(cycles).toBeGreaterThanOrEqual(1);
    expect(cycles).toBeLessThanOrEqual(2);
    await waitFor('online after the burst', async () => (await p.api<{ status: string }>('GET', `/workspaces/${id}`)).body.status === 'online');
    const env = await containerEnv(id);
    for (let i = 0; i < 12; i++) expect(env[`BURST_${i}`]).toBe(`v${i}`);
  });

  it('an external workspace is never restarted by a write; unknown and removed workspaces answer 404 and 410', async () => {
    const ext = await p.api<{ workspace: { id: string } }>('POST', '/workspaces', { name: 'Settings External', runtime: 'external' });
    const id = ext.body.workspace.id;
    const saved = await p.api<{ restart: unknown }>('PUT', `/workspaces/${id}/secrets/EXT_KEY`, { value: 'x' });
    expect(saved.status).toBe(200);
    expect(saved.body.restart).toBeNull();
    expect((await p.api('GET', `/workspaces/00000000-0000-4000-8000-000000000000/secrets`)).status).toBe(404);
    expect((await p.api('DELETE', `/workspaces/${id}?confirm=true`)).status).toBe(200);
    expect((await p.api('PUT', `/workspaces/${id}/secrets/EXT_KEY`, { value: 'y' })).status).toBe(410);
    expect((await p.api('GET', `/workspaces/${id}/secrets`)).status).toBe(410);
    expect((await p.api('GET', `/workspaces/not-a-uuid/secrets`)).status).toBe(400);
  });
});

describe('global secrets', () => {
  it('restart every workspace that uses the global value, not one that shadows it with its own', async () => {
    const uses = await onlineDocker('Settings Global User');
    const shadows = await onlineDocker('Settings Global Shadow', { secrets: { GLOBAL_TEST_KEY: 'own' } });
    const saved = await p.api<{ status: string; restarts_requested: number }>('PUT', '/settings/secrets', { key: 'GLOBAL_TEST_KEY', value: 'global-1' });
    expect(saved.status).toBe(200);
    expect(saved.body.restarts_requested).toBeGreaterThanOrEqual(1);
    const restarted = await waitFor('the user restarted with the global value', async () => {
      const ws = await p.api<{ status: string }>('GET', `/workspaces/${uses}`);
      if (ws.body.status !== 'online') return null;
      return (await containerEnv(uses)).GLOBAL_TEST_KEY === 'global-1' ? true : null;
    }, 90_000);
    expect(restarted).toBe(true);
    const runs: string[] = [];
    for await (const wf of p.temporal.workflow.list({ query: `WorkflowId = "restart-${shadows}"` })) runs.push(wf.runId);
    expect(runs).toEqual([]);
    expect((await containerEnv(shadows)).GLOBAL_TEST_KEY).toBe('own');

    const deleted = await p.api<{ status: string }>('DELETE', '/settings/secrets/GLOBAL_TEST_KEY');
    expect(deleted.body.status).toBe('deleted');
    expect((await p.api('DELETE', '/settings/secrets/GLOBAL_TEST_KEY')).status).toBe(404);
  });
});

describe('model and provider', () => {
  it('are stored at create, read back, changed with a restart, cleared; a model given to provision is kept', async () => {
    const res = await p.api<{ workspace: { id: string } }>('POST', '/workspaces', { name: 'Settings Model', runtime: 'external', model: 'openai/gpt-5' });
    const id = res.body.workspace.id;
    expect((await p.api('GET', `/workspaces/${id}/model`)).body).toEqual({ model: 'openai/gpt-5', source: 'workspace_secrets' });
    expect((await p.api('PUT', `/workspaces/${id}/provider`, { provider: 'custom' })).body).toMatchObject({ status: 'saved', provider: 'custom', restart: null });
    expect((await p.api('GET', `/workspaces/${id}/provider`)).body).toEqual({ provider: 'custom', source: 'workspace_secrets' });
    expect((await p.api('PUT', `/workspaces/${id}/provider`, { provider: '' })).body).toMatchObject({ status: 'cleared' });
    expect((await p.api('GET', `/workspaces/${id}/provider`)).body).toEqual({ provider: '', source: 'default' });
    expect((await p.api('PUT', `/workspaces/${id}/provider`, { provider: 'Bad Name' })).status).toBe(400);

    const docker = await onlineDocker('Settings Model Docker');
    const changed = await p.api<{ status: string; restart: { run_id: string } }>('PUT', `/workspaces/${docker}/model`, { model: 'anthropic/claude-sonnet-4' });
    expect(changed.body.status).toBe('saved');
    await restartDone(docker, changed.body.restart.run_id);
    await waitFor('online with the new model', async () => (await p.api<{ status: string }>('GET', `/workspaces/${docker}`)).body.status === 'online');
    const env = await containerEnv(docker);
    expect(env.MODEL).toBe('anthropic/claude-sonnet-4');
    expect(env.LLM_PROVIDER).toBe('anthropic');

    // A model given to provision is persisted, so a later restart keeps it.
    const again = await p.api('POST', `/workspaces/${id}/provision`, { model: 'deepseek/deepseek-v3' });
    expect(again.status).toBe(201);
    expect((await p.api('GET', `/workspaces/${id}/model`)).body).toEqual({ model: 'deepseek/deepseek-v3', source: 'workspace_secrets' });
  });
});
