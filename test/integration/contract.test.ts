// Issue 18: the OpenAPI document is the contract. schemathesis (installed into .venv by setup) generates
// requests from /openapi.json against the real API with every check on, with a fixed seed, and must
// find nothing: every status code and body a route answers is documented, schema-valid requests are
// accepted, invalid ones refused, health routes are public, unknown methods get 405.
//
// The API runs with a worker of its own, against a database of its own, with no compute provider: the
// routes that start work (create, delete, pause, hibernate, import) run their workflows to the end,
// and no container or instance is ever made (a platform-run workspace is a 400 COMPUTE_NOT_CONFIGURED,
// external ones need none). What schemathesis.toml configures and why is written there.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ADMIN_TOKEN, startPlatform, testDatabase, type Platform } from './support/platform';

const ROOT = join(__dirname, '..', '..');
const SCHEMATHESIS = join(ROOT, '.venv', 'bin', 'schemathesis');
const SEED = 18;
const MAX_EXAMPLES = 10;
/** Streams never end by themselves; events.test.ts and org-import.test.ts cover both. */
const STREAMING_PATHS = '^/events/stream$|^/org/imports/\\{id\\}/events$';

jest.setTimeout(400_000);

let p: Platform;

beforeAll(async () => {
  p = await startPlatform({ env: { DATABASE_URL: await testDatabase('contract'), COMPUTE_PROVIDERS: '' } });
});

afterAll(async () => {
  await p?.close();
});

function runSchemathesis(url: string): Promise<{ code: number | null; output: string }> {
  const args = [
    '--config-file', join(ROOT, 'schemathesis.toml'),
    'run', `${url}/openapi.json`,
    '--checks', 'all',
    '--seed', String(SEED),
    '--max-examples', String(MAX_EXAMPLES),
    '--exclude-path-regex', STREAMING_PATHS,
    '--header', `Authorization: Bearer ${ADMIN_TOKEN}`,
    '--request-timeout', '30',
    '--no-color',
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(SCHEMATHESIS, args, { cwd: ROOT, env: { ...process.env, SCHEMATHESIS_HOOKS: '' } });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

describe('OpenAPI contract (schemathesis)', () => {
  test('schemathesis is installed (npm run setup puts it into .venv)', () => {
    if (!existsSync(SCHEMATHESIS)) throw new Error(`${SCHEMATHESIS} is missing: run \`npm run setup\` (it pip-installs schemathesis into .venv)`);
  });

  test('a body-less DELETE or POST that says content-type: application/json is accepted, not a 400', async () => {
    const created = await p.api<{ id: string }>('POST', '/workspaces', { name: 'contract-bodyless', external: true, url: 'https://93.184.215.14' });
    expect(created.status).toBe(201);
    const headers = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };
    const restart = await fetch(`${p.url}/workspaces/${created.body.id}/restart`, { method: 'POST', headers });
    expect(restart.status).toBe(200); // external runtime: a noop, with a body-less request
    const provision = await fetch(`${p.url}/workspaces/${created.body.id}/provision`, { method: 'POST', headers });
    expect(provision.status).toBe(409); // online: the conflict, not a 400 for the missing body
    const del = await fetch(`${p.url}/workspaces/${created.body.id}?confirm=true`, { method: 'DELETE', headers });
    expect([200, 202]).toContain(del.status);
    // A body that is there but not JSON is still refused.
    const bad = await fetch(`${p.url}/workspaces/${created.body.id}/restart`, { method: 'POST', headers, body: '{' });
    expect(bad.status).toBe(400);
  });

  test('the document: public health routes, 405 with Allow for an undeclared method', async () => {
    const doc = (await (await fetch(`${p.url}/openapi.json`)).json()) as { paths: Record<string, Record<string, { security?: unknown[] }>> };
    for (const path of ['/healthz', '/readyz', '/buildinfo']) expect(doc.paths[path].get.security).toEqual([]);
    const trace = await fetch(`${p.url}/healthz`, { method: 'PATCH' });
    expect(trace.status).toBe(405);
    expect(trace.headers.get('allow')).toBe('GET, HEAD');
  });

  test(`schemathesis --checks all --seed ${SEED}: no failures`, async () => {
    if (!existsSync(SCHEMATHESIS)) throw new Error(`${SCHEMATHESIS} is missing: run \`npm run setup\``);
    const { code, output } = await runSchemathesis(p.url);
    const summary = /=+ (.*) in [\d.]+s =+/.exec(output)?.[1] ?? 'no summary';
    if (code !== 0) throw new Error(`schemathesis exited ${code} (${summary}):\n${output}`);
    expect(output).toMatch(/Test cases:\s*\n\s*\d+ generated/);
  });
});
