// `npm run replay`: downloads a live workflow's history and replays it on the current code; a
// history that does not match the code is reported as NONDETERMINISTIC with exit code 1.
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { RUN_DIR } from '../harness/servers';
import { HISTORIES_DIR } from './support/histories';
import { startPlatform, testEnv, type Platform } from './support/platform';

const run = promisify(execFile);
const ROOT = join(__dirname, '..', '..');
let p: Platform;
beforeAll(async () => {
  p = await startPlatform();
});
afterAll(async () => {
  await p?.close();
});

async function replayCli(args: string[]): Promise<{ code: number; out: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts', 'replay.ts'), ...args], {
      cwd: ROOT,
      env: { ...process.env, ...testEnv(p.servers, p.taskQueue) },
    });
    return { code: 0, out: stdout + stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, out: e.stdout + e.stderr };
  }
}

describe('npm run replay', () => {
  it('replays a live workflow from the server and can save it', async () => {
    const res = await p.api<{ workflow_id: string }>('POST', '/workspaces', { name: 'Replay Me', runtime: 'external' });
    await p.temporal.workflow.getHandle(res.body.workflow_id).result();
    const saved = join(RUN_DIR, 'replay-cli-saved.json');
    const out = await replayCli([res.body.workflow_id, '--save', saved]);
    expect(out.out).toContain(`OK: ${res.body.workflow_id} replayed`);
    expect(out.code).toBe(0);
    expect(JSON.parse(readFileSync(saved, 'utf8')).workflowId).toBe(res.body.workflow_id);
  });

  it('reports a history that does not match the code as NONDETERMINISTIC (exit 1)', async () => {
    // A restart history presented as a provision: the commands diverge at once.
    const stored = JSON.parse(readFileSync(join(HISTORIES_DIR, 'restart-coalesced.json'), 'utf8'));
    stored.history.events[0].workflowExecutionStartedEventAttributes.workflowType.name = 'provisionWorkspace';
    const file = join(RUN_DIR, 'replay-cli-broken.json');
    writeFileSync(file, JSON.stringify(stored));
    const out = await replayCli(['--file', file]);
    expect(out.code).toBe(1);
    expect(out.out).toContain('NONDETERMINISTIC');
  });
});
