// Which workflow code the worker runs. `npm run build` bundles it once into <dist>/workflow-bundle.js
// (scripts/build.ts); the compiled worker loads that file instead of running webpack at every start.
// From source (tsx: the dev stack, tests) the worker bundles workflows/ at start, as before.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

export const WORKFLOW_BUNDLE_FILE = 'workflow-bundle.js';

export type WorkflowSource =
  | { kind: 'prebuilt'; codePath: string; from: 'WORKFLOW_BUNDLE_PATH' | 'build' }
  | { kind: 'bundle-at-start' };

/**
 * `configured` (WORKFLOW_BUNDLE_PATH) wins and must exist. Otherwise a compiled worker (this module is
 * a .js file) uses the bundle its build wrote beside it, and refuses to start without one: a build
 * missing it is broken, and bundling at start is what the build is there to avoid. From source: bundle.
 */
export function resolveWorkflowSource(configured: string, moduleFile: string = __filename): WorkflowSource {
  if (configured) {
    const codePath = resolve(configured);
    if (!existsSync(codePath)) throw new Error(`WORKFLOW_BUNDLE_PATH names ${codePath}, which does not exist`);
    return { kind: 'prebuilt', codePath, from: 'WORKFLOW_BUNDLE_PATH' };
  }
  if (!moduleFile.endsWith('.js')) return { kind: 'bundle-at-start' };
  const codePath = join(dirname(moduleFile), '..', WORKFLOW_BUNDLE_FILE);
  if (!existsSync(codePath)) {
    throw new Error(`the pre-built workflow bundle ${codePath} is missing: run \`npm run build\` (or set WORKFLOW_BUNDLE_PATH)`);
  }
  return { kind: 'prebuilt', codePath, from: 'build' };
}
