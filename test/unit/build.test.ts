// The production build's pieces that need no servers: which workflow code the worker loads, the
// supported Node versions, and the lock file `npm ci` must accept on a clean clone (no fallback left).
// test/integration/dist-build.test.ts runs the real build and starts the compiled programs.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveWorkflowSource, WORKFLOW_BUNDLE_FILE } from '../../worker/workflow-bundle';

const ROOT = join(__dirname, '..', '..');

describe('resolveWorkflowSource', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'bundle-test-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('from source (a .ts module, tsx): bundles at start', () => {
    expect(resolveWorkflowSource('', join(ROOT, 'worker', 'workflow-bundle.ts'))).toEqual({ kind: 'bundle-at-start' });
  });

  it('compiled: loads the bundle its build wrote beside it, and refuses to start without one', () => {
    const compiled = join(dir, 'worker', 'workflow-bundle.js');
    expect(() => resolveWorkflowSource('', compiled)).toThrow(/pre-built workflow bundle .* is missing: run `npm run build`/);
    writeFileSync(join(dir, WORKFLOW_BUNDLE_FILE), '// bundle');
    expect(resolveWorkflowSource('', compiled)).toEqual({ kind: 'prebuilt', codePath: join(dir, WORKFLOW_BUNDLE_FILE), from: 'build' });
  });

  it('WORKFLOW_BUNDLE_PATH wins, from source or compiled, and must exist', () => {
    const file = join(dir, 'other-bundle.js');
    expect(() => resolveWorkflowSource(file)).toThrow(/WORKFLOW_BUNDLE_PATH names .* which does not exist/);
    writeFileSync(file, '// bundle');
    for (const moduleFile of ['/x/worker/workflow-bundle.ts', '/x/worker/workflow-bundle.js']) {
      expect(resolveWorkflowSource(file, moduleFile)).toEqual({ kind: 'prebuilt', codePath: file, from: 'WORKFLOW_BUNDLE_PATH' });
    }
  });
});

/** Does `version` (e.g. v20.20.2) satisfy a range of `^X.Y.Z` alternatives (the only form engines uses)? */
function satisfiesCaretRange(range: string, version: string): boolean {
  const [maj, min, pat] = version.replace(/^v/, '').split('.').map(Number);
  return range.split('||').some((alt) => {
    const m = /^\s*\^(\d+)\.(\d+)\.(\d+)\s*$/.exec(alt);
    if (!m) throw new Error(`engines.node alternative ${alt} is not of the form ^X.Y.Z`);
    const [a, b, c] = m.slice(1).map(Number);
    return maj === a && (min > b || (min === b && pat >= c));
  });
}

describe('supported Node versions', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } };

  it("package.json engines covers this machine's Node (the suite runs on it)", () => {
    expect(satisfiesCaretRange(pkg.engines.node, process.version)).toBe(true);
  });

  it("covers the image's Node: 22 LTS, at a version with require(esm) (two dependencies are ESM-only)", () => {
    const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
    const image = /^ARG NODE_IMAGE=node:(\d+)/m.exec(dockerfile);
    expect(image?.[1]).toBe('22');
    expect(satisfiesCaretRange(pkg.engines.node, 'v22.12.0')).toBe(true);
    expect(satisfiesCaretRange(pkg.engines.node, 'v22.11.0')).toBe(false);
    expect(satisfiesCaretRange(pkg.engines.node, 'v20.18.3')).toBe(false); // no require(esm) by default
  });
});

describe('npm ci on a clean clone', () => {
  it('setup installs with npm ci only: no fallback to npm install', () => {
    const setup = readFileSync(join(ROOT, 'scripts', 'setup.sh'), 'utf8').replace(/^\s*#.*$/gm, '');
    expect(setup).toMatch(/\bnpm ci\b/);
    expect(setup).not.toMatch(/\bnpm (install|i)\b/);
  });

  it('accepts package-lock.json (dry run in a scratch copy: no node_modules touched)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'npm-ci-test-'));
    try {
      copyFileSync(join(ROOT, 'package.json'), join(dir, 'package.json'));
      copyFileSync(join(ROOT, 'package-lock.json'), join(dir, 'package-lock.json'));
      // Throws with npm's message (e.g. "package.json and package-lock.json ... are not in sync") on refusal.
      execFileSync('npm', ['ci', '--dry-run', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: dir, stdio: 'pipe', timeout: 120_000 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
