import { createWorkspaceBody, registerBody } from '../../api/schemas';
import { normalizeRuntime } from '../../domain/vocabulary';
import { missingEnvMessage, publicMessageForFailure, PUBLIC_MESSAGES } from '../../domain/public-errors';

describe('createWorkspaceBody', () => {
  it('clamps budget and concurrency instead of rejecting', () => {
    const b = createWorkspaceBody.parse({ name: 'a', budget_limit: -5, max_concurrent_tasks: 1e9 });
    expect(b.budget_limit).toBe(0);
    expect(b.max_concurrent_tasks).toBe(100);
    expect(createWorkspaceBody.parse({ name: 'a', budget_limit: 1e300 }).budget_limit).toBe(100_000_000_000);
    expect(createWorkspaceBody.parse({ name: 'a', max_concurrent_tasks: 2.7 }).max_concurrent_tasks).toBe(2);
    expect(createWorkspaceBody.parse({ name: 'a' }).max_concurrent_tasks).toBe(1);
  });

  it('rejects bad names, tiers and env names with field paths', () => {
    for (const bad of [{ name: '' }, { name: 'a\u0000b' }, { name: 'x'.repeat(201) }, { name: 'a', tier: 11 }, { name: 'a', required_env: ['lower'] }]) {
      const r = createWorkspaceBody.safeParse(bad);
      expect(r.success).toBe(false);
    }
    const r = createWorkspaceBody.safeParse({ name: 'a', required_env: ['ok_NOT'] });
    expect(r.success).toBe(false);
    if (!r.success) expect(r.error.issues[0].path).toEqual(['required_env', 0]);
  });

  it('register url accepts http(s) only', () => {
    const id = '00000000-0000-4000-8000-000000000000';
    expect(registerBody.safeParse({ workspace_id: id, url: 'https://a.example' }).success).toBe(true);
    expect(registerBody.safeParse({ workspace_id: id, url: 'file:///etc/passwd' }).success).toBe(false);
    expect(registerBody.safeParse({ workspace_id: id, url: 'javascript:alert(1)' }).success).toBe(false);
  });
});

describe('vocabulary and public messages', () => {
  it('unknown runtime falls back to claude-code', () => {
    expect(normalizeRuntime('hermes')).toBe('hermes');
    expect(normalizeRuntime('cobol')).toBe('claude-code');
    expect(normalizeRuntime(undefined)).toBe('claude-code');
  });

  it('maps failure types to fixed sentences', () => {
    expect(publicMessageForFailure('DecryptFailed')).toBe(PUBLIC_MESSAGES.decryptFailed);
    expect(publicMessageForFailure('SomethingInternal')).toBe(PUBLIC_MESSAGES.generic);
    expect(missingEnvMessage(['A_KEY', 'not valid <script>'])).toBe('Missing required environment variables: A_KEY');
  });
});
