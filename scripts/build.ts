// `npm run build`: the production build, run by the Dockerfile's build stage and by
// test/integration/dist-build.test.ts.
//   1. tsc -p tsconfig.build.json: the programs (not tests, not benchmarks) type-checked and compiled
//      to <out>/ (dist/ by default), laid out like the sources: <out>/api/main.js, <out>/worker/main.js.
//   2. db/migrations/*.sql copied to <out>/db/migrations, where the compiled db/migrate.js looks.
//   3. The workflow code bundled once, from the compiled workflows, into <out>/workflow-bundle.js: the
//      compiled worker loads it (worker/workflow-bundle.ts) instead of running webpack at every start.
// Usage: tsx scripts/build.ts [--out-dir DIR] (DIR inside the project, so the compiled code finds
// node_modules). The output directory is emptied first, so no file of a deleted source survives.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { WORKFLOW_BUNDLE_FILE } from '../worker/workflow-bundle';

const ROOT = resolve(__dirname, '..');

function outDirFromArgs(argv: string[]): string {
  const i = argv.indexOf('--out-dir');
  const dir = resolve(ROOT, i >= 0 && argv[i + 1] ? argv[i + 1] : 'dist');
  const rel = relative(ROOT, dir);
  // Never rm -rf the project itself or anything outside it; node_modules must be an ancestor's.
  if (!rel || rel.startsWith('..') || isAbsolute(rel) || rel.split(/[\\/]/)[0] === 'node_modules') {
    throw new Error(`--out-dir must be a directory inside ${ROOT} (got ${dir})`);
  }
  return dir;
}

async function main(): Promise<void> {
  const out = outDirFromArgs(process.argv.slice(2));
  const started = Date.now();
  rmSync(out, { recursive: true, force: true });

  const tsc = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', out], {
    cwd: ROOT,
    stdio: 'inherit',
  });
  if (tsc.status !== 0) throw new Error(`tsc failed (exit ${tsc.status ?? tsc.signal})`);

  const migrations = join(out, 'db', 'migrations');
  mkdirSync(migrations, { recursive: true });
  for (const f of readdirSync(join(ROOT, 'db', 'migrations')).filter((n) => n.endsWith('.sql'))) {
    cpSync(join(ROOT, 'db', 'migrations', f), join(migrations, f));
  }

  const noop = () => undefined;
  const { code } = await bundleWorkflowCode({
    workflowsPath: join(out, 'workflows', 'index.js'),
    logger: { trace: noop, debug: noop, info: noop, warn: (m: string) => console.warn(m), error: (m: string) => console.error(m), log: noop },
  });
  writeFileSync(join(out, WORKFLOW_BUNDLE_FILE), code);
  console.log(`build: ${relative(ROOT, out)}/ written in ${((Date.now() - started) / 1000).toFixed(1)} s (workflow bundle ${(code.length / 1024).toFixed(0)} KiB)`);
}

main().catch((err: Error) => {
  console.error(`build failed: ${err.message}`);
  process.exit(1);
});
