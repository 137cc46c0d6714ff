// Pure parts of the management API: the list cursor, the PATCH/budget/token/activity schemas, the
// template env lists and the "Postgres unavailable" classifier.
import { activityQuery, budgetBody, patchWorkspaceBody, tokenListQuery, tokenParams } from '../../api/schemas';
import { postgresUnavailableCheck } from '../../api/services/postgres-unavailable';
import { formatListCursor, parseListCursor } from '../../domain/list-cursor';
import { parseOrgTemplate, templateEnvLists } from '../../domain/org-template';

const ID = '0b7f2c1e-4a5d-4e6f-8a9b-0c1d2e3f4a5b';

describe('list cursor', () => {
  it('round-trips a position and refuses anything it did not issue', () => {
    const cursor = { createdAt: '2026-11-30T12:00:00.123456Z', id: ID };
    expect(parseListCursor(formatListCursor(cursor))).toEqual(cursor);
    for (const bad of ['', 'x', '!!!', Buffer.from(`2026-11-30T12:00:00Z_${ID}`).toString('base64url'), Buffer.from(`2026-11-30T12:00:00.123456Z_${ID}x`).toString('base64url'),
      Buffer.from(`2026-13-45T12:00:00.123456Z_${ID}`).toString('base64url'), 'a'.repeat(201), Buffer.from(`2026-11-30T12:00:00.123456Z_${ID.toUpperCase()}`).toString('base64url')]) {
      expect(parseListCursor(bad)).toBeNull();
    }
  });
});

describe('PATCH /workspaces/:id body', () => {
  const ok = (body: unknown) => patchWorkspaceBody.safeParse(body).success;
  it('accepts each field alone and budget_limit as an ignored field', () => {
    for (const body of [{ name: 'n' }, { role: 'r' }, { runtime: 'codex' }, { tier: 0 }, { parent_id: ID }, { parent_id: null }, { collapsed: true },
      { workspace_dir: '/srv/a' }, { workspace_dir: null }, { x: 1.5, y: -2 }, { budget_limit: 5 }]) {
      expect(ok(body)).toBe(true);
    }
  });
  it('refuses an empty body, x without y, relative dirs, newlines, unknown runtimes and bad tiers', () => {
    for (const body of [{}, { other: 1 }, { x: 1 }, { y: 1 }, { workspace_dir: 'rel/dir' }, { workspace_dir: '/a\nb' }, { name: 'a\nb' }, { role: 'a\rb' },
      { runtime: 'codex\n' }, { runtime: 'x'.repeat(65) }, { runtime: 'unknown' }, { tier: 11 }, { tier: 1.5 }, { parent_id: 'x' }, { collapsed: 'true' },
      { x: 1e7, y: 0 }, { name: '' }, { role: 'r'.repeat(201) }]) {
      expect(ok(body)).toBe(false);
    }
  });
});

describe('budget, token and activity inputs', () => {
  it('budget_limit: a non-negative integer or null, never missing', () => {
    expect(budgetBody.safeParse({ budget_limit: 0 }).success).toBe(true);
    expect(budgetBody.safeParse({ budget_limit: null }).success).toBe(true);
    for (const bad of [{}, { budget_limit: -1 }, { budget_limit: 1.5 }, { budget_limit: '5' }, { budget_limit: 1e12 }]) expect(budgetBody.safeParse(bad).success).toBe(false);
  });
  it('token list limit is 1..200 (default 50); token ids are positive integers', () => {
    expect(tokenListQuery.parse({})).toEqual({ limit: 50, offset: 0 });
    for (const limit of ['0', '201', '-1', '1.5', 'x']) expect(tokenListQuery.safeParse({ limit }).success).toBe(false);
    expect(tokenParams.safeParse({ id: ID, tokenId: '12' }).success).toBe(true);
    for (const tokenId of ['0', '-1', 'abc', '1'.repeat(19), '01']) expect(tokenParams.safeParse({ id: ID, tokenId }).success).toBe(false);
  });
  it('activity filters: since_secs clamped to 30 days, the rest validated', () => {
    expect(activityQuery.parse({ since_secs: '99999999' }).since_secs).toBe(2_592_000);
    expect(activityQuery.parse({}).limit).toBe(100);
    for (const q of [{ source: 'platform' }, { since_secs: '0' }, { since_secs: '-5' }, { since_secs: '1.5' }, { peer_id: 'x' }, { before_ts: '2026-01-01' },
      { before_ts: 'yesterday' }, { since_id: 'abc' }, { limit: '501' }, { limit: '0' }, { type: 'a b' }]) {
      expect(activityQuery.safeParse(q).success).toBe(false);
    }
    expect(activityQuery.safeParse({ before_ts: '2026-01-01T00:00:00+02:00', source: 'agent', peer_id: ID, since_id: '7', type: 'workspace.updated' }).success).toBe(true);
  });
});

describe('template env lists (A13.1)', () => {
  it('unions the tree, dedupes, sorts, and required wins', async () => {
    const t = await parseOrgTemplate({
      inline: {
        name: 'org',
        required_env: ['B_KEY'],
        recommended_env: ['A_KEY', 'B_KEY'],
        workspaces: [
          { name: 'a', required_env: ['C_KEY', { any_of: ['Y_KEY', 'X_KEY'] }], recommended_env: ['D_KEY', 'C_KEY'], children: [{ name: 'b', recommended_env: ['A_KEY', 'E_KEY'] }] },
        ],
      },
    });
    expect(templateEnvLists(t)).toEqual({ required_env: ['B_KEY', 'C_KEY', 'X_KEY|Y_KEY'], recommended_env: ['A_KEY', 'D_KEY', 'E_KEY'] });
  });
});

describe('postgres unavailable', () => {
  const unavailable = postgresUnavailableCheck('postgres://u@db.internal:6543/x');
  const netError = (code: string, extra: Record<string, unknown>) => Object.assign(new Error(code), { code, ...extra });
  it('recognises a refused or dropped connection to the database', () => {
    expect(unavailable(netError('ECONNREFUSED', { port: 6543, address: '10.0.0.1' }))).toBe(true);
    expect(unavailable(netError('ENOTFOUND', { hostname: 'db.internal' }))).toBe(true);
    expect(unavailable(Object.assign(new AggregateError([netError('ECONNREFUSED', { port: 6543 })]), { code: 'ECONNREFUSED' }))).toBe(true);
    expect(unavailable(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(unavailable(Object.assign(new Error('the database system is shutting down'), { code: '57P03', severity: 'FATAL' }))).toBe(true);
  });
  it('leaves every other failure alone', () => {
    expect(unavailable(netError('ECONNREFUSED', { port: 7233 }))).toBe(false);
    expect(unavailable(netError('ECONNREFUSED', { address: '/var/run/docker.sock' }))).toBe(false);
    expect(unavailable(Object.assign(new Error('duplicate key'), { code: '23505', severity: 'ERROR' }))).toBe(false);
    expect(unavailable(new Error('boom'))).toBe(false);
    expect(unavailable(null)).toBe(false);
  });
});
