import { createWorkspaceBody, registerBody } from '../../api/schemas';
import { loadConfig } from '../../config';
import { externalConnection, externalPlatformUrl, SAFE_BASE_URL } from '../../domain/external-connection';
import { createdStatusFor, pushUrlMissing, resolveDeliveryMode } from '../../domain/workspace-defaults';

const ID = '0b6d3c1e-5d7a-4c1e-9f3a-2a1b3c4d5e6f';

describe('externalConnection (A5.2-3)', () => {
  const c = externalConnection('https://platform.example.test:8443', ID, 'mol_secret-token');
  const snippets = [c.curl_register_template, c.python_snippet, c.claude_code_channel_snippet, c.universal_mcp_snippet];

  it('has every field of A5.2, endpoints on the platform URL', () => {
    expect(Object.keys(c).sort()).toEqual(
      [
        'workspace_id', 'platform_url', 'auth_token', 'registry_endpoint', 'heartbeat_endpoint',
        'curl_register_template', 'python_snippet', 'claude_code_channel_snippet', 'universal_mcp_snippet',
      ].sort(),
    );
    expect(c.registry_endpoint).toBe('https://platform.example.test:8443/registry/register');
    expect(c.heartbeat_endpoint).toBe('https://platform.example.test:8443/registry/heartbeat');
    expect(c.auth_token).toBe('mol_secret-token');
    expect(c.workspace_id).toBe(ID);
  });

  it('fills both placeholders, never puts the token in a snippet, and sends Origin', () => {
    for (const s of snippets) {
      expect(s).not.toContain('{{');
      expect(s).not.toContain('mol_secret-token');
      expect(s).toContain(ID);
      expect(s).toContain(c.registry_endpoint);
      expect(s).toContain(c.heartbeat_endpoint);
      expect(s).toMatch(/Origin"?: "?'?https:\/\/platform\.example\.test:8443/);
      expect(s).toContain('WORKSPACE_TOKEN');
    }
  });

  it('the JSON snippets are JSON', () => {
    const settings = JSON.parse(c.claude_code_channel_snippet) as { hooks: { SessionStart: Array<{ hooks: Array<{ command: string }> }> } };
    expect(settings.hooks.SessionStart[0].hooks[0].command).toContain(c.registry_endpoint);
    const universal = JSON.parse(c.universal_mcp_snippet) as { register: { url: string; body: { workspace_id: string } }; heartbeat: { url: string } };
    expect(universal.register).toMatchObject({ url: c.registry_endpoint, body: { workspace_id: ID } });
    expect(universal.heartbeat.url).toBe(c.heartbeat_endpoint);
  });
});

describe('externalPlatformUrl (A5.3)', () => {
  it('configured URL first, trailing slashes trimmed', () => {
    expect(externalPlatformUrl('https://agents.example.test/molecule//', { protocol: 'http', host: 'x:1' }, 'http://api:8080')).toBe('https://agents.example.test/molecule');
  });
  it('else the request scheme and host', () => {
    expect(externalPlatformUrl('', { protocol: 'https', host: 'platform.example.test:9443' }, 'http://api:8080')).toBe('https://platform.example.test:9443');
    expect(externalPlatformUrl('', { protocol: 'http', host: '[::1]:8080' }, 'http://api:8080')).toBe('http://[::1]:8080');
  });
  it('a Host header that would not make a safe URL falls back to PLATFORM_URL', () => {
    for (const host of [undefined, '', "evil'host", 'a b', 'h"x', 'h/../x?y', 'h$(id)']) {
      expect(externalPlatformUrl('', { protocol: 'http', host }, 'http://api:8080/')).toBe('http://api:8080');
    }
  });
  it('EXTERNAL_PLATFORM_URL must be a safe http(s) URL', () => {
    expect(SAFE_BASE_URL.test('http://127.0.0.1:8080')).toBe(true);
    expect(loadConfig({ EXTERNAL_PLATFORM_URL: 'https://p.example.test/x' }).EXTERNAL_PLATFORM_URL).toBe('https://p.example.test/x');
    expect(loadConfig({}).EXTERNAL_PLATFORM_URL).toBe('');
    for (const bad of ['ftp://x', "http://x'y", 'http://x/?q=1', 'http://x/#f', 'x.example.test', 'http://x y']) {
      expect(() => loadConfig({ EXTERNAL_PLATFORM_URL: bad })).toThrow(/EXTERNAL_PLATFORM_URL/);
    }
  });
});

describe('delivery mode at register (A5.4)', () => {
  it('payload > stored > poll for external > push', () => {
    expect(resolveDeliveryMode('push', 'poll', 'external')).toBe('push');
    expect(resolveDeliveryMode('poll', 'push', 'claude-code')).toBe('poll');
    expect(resolveDeliveryMode(undefined, 'poll', 'claude-code')).toBe('poll');
    expect(resolveDeliveryMode(undefined, 'push', 'external')).toBe('push');
    expect(resolveDeliveryMode(undefined, null, 'external')).toBe('poll');
    expect(resolveDeliveryMode(null, null, 'hermes')).toBe('push');
  });
  it('a url is needed only by an external agent in push mode, given now or stored', () => {
    expect(pushUrlMissing('push', 'external', undefined, null)).toBe(true);
    expect(pushUrlMissing('push', 'external', 'https://a.example', null)).toBe(false);
    expect(pushUrlMissing('push', 'external', null, 'https://a.example')).toBe(false);
    expect(pushUrlMissing('poll', 'external', null, null)).toBe(false);
    expect(pushUrlMissing('push', 'claude-code', null, null)).toBe(false);
  });
  it('register body: delivery_mode push|poll only', () => {
    expect(registerBody.safeParse({ workspace_id: ID, delivery_mode: 'poll' }).success).toBe(true);
    for (const bad of ['PUSH', 'pull', '', 1, null]) {
      const r = registerBody.safeParse({ workspace_id: ID, delivery_mode: bad });
      expect(r.success).toBe(false);
      if (!r.success) expect(r.error.issues[0].path).toEqual(['delivery_mode']);
    }
  });
});

describe('external create body (A5.1)', () => {
  it('external:true means runtime external; a contradicting runtime or a url on a platform runtime is refused on its field', () => {
    expect(createWorkspaceBody.safeParse({ name: 'a', external: true }).success).toBe(true);
    expect(createWorkspaceBody.safeParse({ name: 'a', external: true, runtime: 'external', url: 'https://a.example' }).success).toBe(true);
    expect(createWorkspaceBody.safeParse({ name: 'a', runtime: 'external', url: 'https://a.example' }).success).toBe(true);
    const contradiction = createWorkspaceBody.safeParse({ name: 'a', external: true, runtime: 'hermes' });
    expect(contradiction.success).toBe(false);
    if (!contradiction.success) expect(contradiction.error.issues[0].path).toEqual(['external']);
    const platformUrl = createWorkspaceBody.safeParse({ name: 'a', url: 'https://a.example' });
    expect(platformUrl.success).toBe(false);
    if (!platformUrl.success) expect(platformUrl.error.issues[0].path).toEqual(['url']);
    expect(createWorkspaceBody.safeParse({ name: 'a', external: true, url: 'gopher://a.example' }).success).toBe(false);
  });
  it('an external workspace with a url starts online; without one it waits', () => {
    expect(createdStatusFor('none', 'https://a.example')).toBe('online');
    expect(createdStatusFor('none', null)).toBe('awaiting_agent');
    expect(createdStatusFor('docker', 'https://a.example')).toBe('provisioning');
  });
});
