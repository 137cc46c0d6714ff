import { assembleEnv, nameSlug } from '../../domain/provision-env';

const ws = { id: 'w1', name: 'Research Lead', parentId: null as string | null, model: null as string | null };

describe('assembleEnv', () => {
  it('layers workspace secrets over global secrets', () => {
    const { env } = assembleEnv({ workspace: ws, globalSecrets: { A: 'g', B: 'g' }, workspaceSecrets: { B: 'w' } });
    expect(env.A).toBe('g');
    expect(env.B).toBe('w');
  });

  it('sets the git identity only when empty', () => {
    const { env } = assembleEnv({ workspace: ws, globalSecrets: {}, workspaceSecrets: { GIT_AUTHOR_NAME: 'Custom' } });
    expect(env.GIT_AUTHOR_NAME).toBe('Custom');
    expect(env.GIT_COMMITTER_NAME).toBe('Molecule AI <Research Lead>');
    expect(env.GIT_AUTHOR_EMAIL).toBe('research-lead@agents.moleculesai.app');
    expect(env.GIT_COMMITTER_EMAIL).toBe('research-lead@agents.moleculesai.app');
  });

  it('sets PARENT_ID only when the workspace has a parent', () => {
    expect(assembleEnv({ workspace: ws, globalSecrets: { PARENT_ID: 'stale' }, workspaceSecrets: {} }).env.PARENT_ID).toBeUndefined();
    expect(assembleEnv({ workspace: { ...ws, parentId: 'p1' }, globalSecrets: {}, workspaceSecrets: {} }).env.PARENT_ID).toBe('p1');
  });

  it('MODEL: request payload > MODEL secret > MODEL_PROVIDER', () => {
    const secrets = { MODEL: 'openai/gpt-5', MODEL_PROVIDER: 'google/gemini' };
    expect(assembleEnv({ workspace: ws, globalSecrets: secrets, workspaceSecrets: {}, requestModel: 'anthropic/claude' }).env.MODEL).toBe('anthropic/claude');
    expect(assembleEnv({ workspace: ws, globalSecrets: secrets, workspaceSecrets: {} }).env.MODEL).toBe('openai/gpt-5');
    expect(assembleEnv({ workspace: ws, globalSecrets: { MODEL_PROVIDER: 'google/gemini' }, workspaceSecrets: {} }).env.MODEL).toBe('google/gemini');
    expect(assembleEnv({ workspace: ws, globalSecrets: {}, workspaceSecrets: {} }).env.MODEL).toBeUndefined();
  });

  it('derives LLM_PROVIDER through the mapping table (A4.2), only when none is stored (A4.3)', () => {
    expect(assembleEnv({ workspace: ws, globalSecrets: {}, workspaceSecrets: {}, requestModel: 'anthropic/claude-sonnet-4' }).env.LLM_PROVIDER).toBe('anthropic');
    expect(assembleEnv({ workspace: ws, globalSecrets: {}, workspaceSecrets: {}, requestModel: 'openai/gpt-5' }).env.LLM_PROVIDER).toBe('openrouter');
    expect(assembleEnv({ workspace: ws, globalSecrets: {}, workspaceSecrets: {}, requestModel: 'plain-model' }).env.LLM_PROVIDER).toBeUndefined();
    expect(assembleEnv({ workspace: ws, globalSecrets: {}, workspaceSecrets: {}, requestModel: 'acme/model' }).env.LLM_PROVIDER).toBeUndefined();
    const stored = { LLM_PROVIDER: 'custom' };
    expect(assembleEnv({ workspace: ws, globalSecrets: {}, workspaceSecrets: stored, requestModel: 'anthropic/claude-sonnet-4' }).env.LLM_PROVIDER).toBe('custom');
  });

  it('defaults PYTHONPATH to /app unless overridden', () => {
    expect(assembleEnv({ workspace: ws, globalSecrets: {}, workspaceSecrets: {} }).env.PYTHONPATH).toBe('/app');
    expect(assembleEnv({ workspace: ws, globalSecrets: { PYTHONPATH: '/x' }, workspaceSecrets: {} }).env.PYTHONPATH).toBe('/x');
  });

  it('preflight lists missing names (sorted, deduplicated), never values', () => {
    const { missing } = assembleEnv({
      workspace: ws,
      globalSecrets: { HAVE: 'secret-value', EMPTY: '' },
      workspaceSecrets: {},
      requiredEnv: ['ZED', 'HAVE', 'EMPTY', 'ZED'],
    });
    expect(missing).toEqual(['EMPTY', 'ZED']);
    expect(JSON.stringify(missing)).not.toContain('secret-value');
  });

  it('platform variables cannot be overridden by secrets', () => {
    const { env } = assembleEnv({ workspace: ws, globalSecrets: { WORKSPACE_ID: 'spoof' }, workspaceSecrets: {}, platform: { WORKSPACE_ID: 'w1' } });
    expect(env.WORKSPACE_ID).toBe('w1');
  });

  it('applies mutators after secrets', () => {
    const { env } = assembleEnv({ workspace: ws, globalSecrets: { A: '1' }, workspaceSecrets: {}, mutators: [(e) => (e.A = `${e.A}!`)] });
    expect(env.A).toBe('1!');
  });
});

describe('nameSlug', () => {
  it.each([
    ['Research Lead', 'research-lead'],
    ['  Ünïcode Näme  ', 'unicode-name'],
    ['***', 'workspace'],
    ['a'.repeat(100), 'a'.repeat(63)],
  ])('slug(%p) = %p', (input, out) => expect(nameSlug(input)).toBe(out));
});
