// Every workflow type the worker registers. Workflow code only: deterministic, no I/O.
export { provisionWorkspace } from './provision';
export { restartWorkspace } from './restart';
export { deleteWorkspaceTree, deleteComputeBatch } from './delete-tree';
export { orphanSweep } from './orphan-sweep';
export { livenessSweep } from './liveness-sweep';
export { importOrg } from './org-import';
