// SPEC-ADDENDUM A14.1-2 against a real API whose Postgres refuses every connection (DATABASE_URL names a
// port nothing listens on): agent auth and admin routes answer 503 platform_unavailable, never a 500,
// and say nothing about the database; the admin token is still checked first; /healthz and /buildinfo
// need no database.
import { freePort } from '../harness/processes';
import { startPlatform, type Platform } from './support/platform';

const UNKNOWN = '3b9f6a1c-2e4d-4c8b-9f0a-0000000000aa';

describe('Postgres unavailable (A14.1)', () => {
  let down: Platform;
  beforeAll(async () => {
    // Nothing listens on this port: every connection is refused.
    const closed = await freePort();
    down = await startPlatform({ worker: false, env: { DATABASE_URL: `postgres://postgres@127.0.0.1:${closed}/molecule`, GIT_SHA: 'abc1234' } });
  });
  afterAll(async () => {
    await down?.close();
  });

  it('agent auth and admin routes answer 503 platform_unavailable without database details', async () => {
    const answers = await Promise.all([
      down.api('POST', '/registry/heartbeat', { workspace_id: UNKNOWN }, 'mol_some-agent-token'),
      down.api('POST', '/registry/register', { workspace_id: UNKNOWN }, 'mol_some-agent-token'),
      down.api('GET', '/workspaces'),
      down.api('GET', `/workspaces/${UNKNOWN}`),
      down.api('PATCH', `/workspaces/${UNKNOWN}`, { name: 'x' }),
      down.api('GET', `/workspaces/${UNKNOWN}/budget`),
      down.api('POST', `/workspaces/${UNKNOWN}/tokens`),
      down.api('GET', `/workspaces/${UNKNOWN}/activity`),
    ]);
    for (const a of answers) {
      expect(a).toEqual({ status: 503, body: { error: expect.any(String), code: 'platform_unavailable' } });
      expect(JSON.stringify(a.body)).not.toMatch(/ECONNREFUSED|127\.0\.0\.1|postgres|5432/i);
    }
  });

  it('still checks the admin token first, and /healthz and /buildinfo need no database', async () => {
    expect((await down.api('GET', '/workspaces', undefined, null)).status).toBe(401);
    expect((await down.api('GET', '/healthz', undefined, null)).status).toBe(200);
    expect(await down.api('GET', '/buildinfo', undefined, null)).toEqual({ status: 200, body: { git_sha: 'abc1234' } });
  });
});
