// Every workflow type the worker registers. Workflow code only: deterministic, no I/O.
export { provisionWorkspace } from './provision';
export { restartWorkspace } from './restart';
export { deleteWorkspaceTree, deleteComputeBatch } from './delete-tree';
export { orphanSweep } from './orphan-sweep';
export { livenessSweep } from './liveness-sweep';
export { importOrg } from './org-import';
export { pauseTree, pauseComputeBatch } from './pause-tree';
export { resumeTree, resumeProvisionBatch } from './resume-tree';
export { hibernateWorkspace } from './hibernate';
export { idleMonitor } from './idle-monitor';
