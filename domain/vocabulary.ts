// The one source of truth for the platform's shared vocabulary. The database CHECK constraints are
// verified against these lists by test/integration/migrations.test.ts, so the two cannot drift.

export const WORKSPACE_STATUSES = [
  'provisioning',
  'online',
  'offline',
  'degraded',
  'failed',
  'removed',
  'paused',
  'hibernated',
  'hibernating',
  'awaiting_agent',
] as const;
export type WorkspaceStatus = (typeof WORKSPACE_STATUSES)[number];

/**
 * Parked by an operator (A10): paused, or hibernating/hibernated. Only resume or wake brings such a
 * workspace back: no restart, provision, registration or configuration write does.
 */
export const PARKED_STATUSES = ['paused', 'hibernating', 'hibernated'] as const satisfies readonly WorkspaceStatus[];
export function isParked(status: WorkspaceStatus): boolean {
  return (PARKED_STATUSES as readonly WorkspaceStatus[]).includes(status);
}

/** Runtimes with a container/instance image. `external` has no compute: the agent runs elsewhere. */
export const COMPUTE_RUNTIMES = ['claude-code', 'hermes', 'openclaw', 'codex'] as const;
export const RUNTIMES = [...COMPUTE_RUNTIMES, 'external'] as const;
export type Runtime = (typeof RUNTIMES)[number];
export const DEFAULT_RUNTIME: Runtime = 'claude-code';

/** An unknown runtime falls back to claude-code (SPEC §1), rather than being rejected. */
export function normalizeRuntime(value: string | null | undefined): Runtime {
  return (RUNTIMES as readonly string[]).includes(value ?? '') ? (value as Runtime) : DEFAULT_RUNTIME;
}

/** Where a workspace's compute lives. `none` is the external runtime's. */
export const COMPUTE_KINDS = ['docker', 'ec2', 'none'] as const;
export type ComputeKind = (typeof COMPUTE_KINDS)[number];

export const DELIVERY_MODES = ['push', 'poll'] as const;
export type DeliveryMode = (typeof DELIVERY_MODES)[number];

export const UPDATE_TIERS = ['canary', 'production'] as const;
export type UpdateTier = (typeof UPDATE_TIERS)[number];

export const ORG_IMPORT_MODES = ['merge', 'reconcile'] as const;
export type OrgImportMode = (typeof ORG_IMPORT_MODES)[number];

/** `cancelled`: ended by POST /org/imports/:id/cancel, the one way to cancel an import. */
export const ORG_IMPORT_STATUSES = ['running', 'completed', 'failed', 'cancelled'] as const;
export type OrgImportStatus = (typeof ORG_IMPORT_STATUSES)[number];

/** How a workspace came to exist (provenance): through POST /workspaces, or created by an org import. */
export const WORKSPACE_ORIGINS = ['api', 'import'] as const;
export type WorkspaceOrigin = (typeof WORKSPACE_ORIGINS)[number];

/** Broadcast / structure event names. */
export const EVENTS = {
  workspaceCreated: 'WORKSPACE_CREATED',
  workspaceProvisioning: 'WORKSPACE_PROVISIONING',
  workspaceOnline: 'WORKSPACE_ONLINE',
  /** A platform-run agent's heartbeats stopped (A1.2). */
  workspaceOffline: 'WORKSPACE_OFFLINE',
  /** An external workspace waits for its agent: created or re-provisioned (A5.2), or its heartbeats stopped (A1.3; never offline). */
  workspaceAwaitingAgent: 'WORKSPACE_AWAITING_AGENT',
  /** A heartbeat reported a wedged runtime or a high error rate (A2.3). */
  workspaceDegraded: 'WORKSPACE_DEGRADED',
  /** A heartbeat's current_task differs from the one stored (A2.5). */
  taskUpdated: 'TASK_UPDATED',
  workspaceProvisionFailed: 'WORKSPACE_PROVISION_FAILED',
  workspaceRestarted: 'WORKSPACE_RESTARTED',
  workspaceRemoved: 'WORKSPACE_REMOVED',
  /** A dead agent's automatic restart was claimed: `{attempt, max_attempts, delay_seconds, trigger}` (A9, issue 17). */
  workspaceAutoRestart: 'WORKSPACE_AUTO_RESTART',
  /** Automatic restarts ran out within their window: the workspace is failed until a person restarts it. */
  workspaceCrashLoop: 'WORKSPACE_CRASH_LOOP',
  /** POST /workspaces/:id/pause stopped it (or an ancestor's pause did) (A10.1). */
  workspacePaused: 'WORKSPACE_PAUSED',
  /** Hibernated by POST /workspaces/:id/hibernate or the idle monitor (A10.3-4). */
  workspaceHibernated: 'WORKSPACE_HIBERNATED',
  /** PATCH /workspaces/:id changed name, role, runtime, tier, parent, workspace_dir or the canvas fields. */
  workspaceUpdated: 'WORKSPACE_UPDATED',
  orgImportStarted: 'org.import.started',
  orgImportCompleted: 'org.import.completed',
} as const;
export type EventName = (typeof EVENTS)[keyof typeof EVENTS];

/**
 * Who an activity log entry came from (activity_logs.source, filtered by GET /workspaces/:id/activity
 * ?source=): the platform itself (workflows, sweeps), an operator through the admin API (`canvas`), or
 * the agent's own calls. Only `canvas` and `agent` may be asked for (A12.3).
 */
export const ACTIVITY_SOURCES = ['platform', 'canvas', 'agent'] as const;
export type ActivitySource = (typeof ACTIVITY_SOURCES)[number];
/** A2.3: what a heartbeat's runtime_state says when the agent's runtime is stuck. */
export const WEDGED_RUNTIME_STATE = 'wedged';
/** A2.4: the capability with which an agent manages its own degraded/online status. */
export const STATUS_MGMT_CAPABILITY = 'status_mgmt';

/** Custom search attributes (Keyword), declared when the Temporal dev server starts. */
export const SEARCH_ATTRIBUTES = {
  workspaceId: 'WorkspaceId',
  workspaceRuntime: 'WorkspaceRuntime',
  /** The workspace's name when the run started, so the UI's list says which workspace a run is about. */
  workspaceName: 'WorkspaceName',
  provisionPhase: 'ProvisionPhase',
  orgImportId: 'OrgImportId',
  /** Set on a restart run serving an automatic restart: `attempt k of N` (the UI's list can filter on it). */
  autoRestart: 'AutoRestart',
} as const;
export const SEARCH_ATTRIBUTE_NAMES = Object.values(SEARCH_ATTRIBUTES);

/**
 * What claimed an automatic restart: a liveness pass found the agent dead (`dead`), or the automatic
 * restart cycle before failed and the restart workflow asks for the next attempt (`cycle_failed`).
 */
export const AUTO_RESTART_TRIGGERS = ['dead', 'cycle_failed'] as const;
export type AutoRestartTrigger = (typeof AUTO_RESTART_TRIGGERS)[number];

/** Docker labels and naming. Deterministic names make every create idempotent. */
export const MANAGED_LABEL = 'molecule.platform.managed';
export const WORKSPACE_ID_LABEL = 'molecule.workspace.id';
export const PROVISION_RUN_LABEL = 'molecule.provision.run';
export const CONTAINER_NAME_PREFIX = 'ws-';
/**
 * The full id: ids sharing their first 11 hex digits (the old `ws-<first 12 chars>` scheme) would share
 * a container. Containers and volumes made under the old names are still found by their workspace-id
 * label (activities/docker-compute.ts), so nothing needs renaming.
 */
export function containerName(workspaceId: string): string {
  return `${CONTAINER_NAME_PREFIX}${workspaceId}`;
}
export function configVolumeName(workspaceId: string): string {
  return `${containerName(workspaceId)}-configs`;
}

/** Deterministic workflow ids: one provision/restart/delete per workspace at a time. */
export const workflowIds = {
  provision: (workspaceId: string) => `provision-${workspaceId}`,
  restart: (workspaceId: string) => `restart-${workspaceId}`,
  deleteTree: (workspaceId: string) => `delete-${workspaceId}`,
  orgImport: (importId: string) => `org-import-${importId}`,
  orphanSweep: 'orphan-sweeper',
  livenessSweep: 'liveness-sweeper',
  /** Pause / resume of a subtree, by its root (A10.1-2). */
  pauseTree: (rootId: string) => `pause-${rootId}`,
  resumeTree: (rootId: string) => `resume-${rootId}`,
  hibernate: (workspaceId: string) => `hibernate-${workspaceId}`,
  /** The idle monitor's Schedule (A10.4). */
  idleMonitor: 'idle-monitor',
};

/**
 * Per-workspace outcome of an org import (org_import_items.outcome). Besides the provision results:
 * `skipped` an existing workspace that was already provisioning (merge leaves it to its own run);
 * `superseded` a restart or re-provision took the item over during the import; `removed` the item was
 * deleted during the import; `cancelled` the import was cancelled before the item was online. Only
 * `failed` counts as a failure.
 */
export const IMPORT_ITEM_OUTCOMES = [
  'created',
  'existing',
  'not_spawned',
  'online',
  'awaiting_agent',
  'failed',
  'skipped',
  'superseded',
  'removed',
  'cancelled',
] as const;
export type ImportItemOutcome = (typeof IMPORT_ITEM_OUTCOMES)[number];

/** An Idempotency-Key's request is still running, or its answer is stored (idempotency_keys.state). */
export const IDEMPOTENCY_STATES = ['in_flight', 'completed'] as const;
export type IdempotencyState = (typeof IDEMPOTENCY_STATES)[number];

/**
 * Characters no workspace name may contain: C0/C1 controls, line/paragraph separators and bidi
 * overrides/isolates (names reach git identities, container env, logs and UIs). The API and the
 * template parser both use this one rule.
 */
const UNSAFE_RANGES = '\\u0000-\\u001f\\u007f-\\u009f\\u2028\\u2029\\u202a-\\u202e\\u2066-\\u2069';
export const UNSAFE_NAME_CHARS = new RegExp(`[${UNSAFE_RANGES}]`);
/** The same rule as a whole-string pattern (it goes into the OpenAPI document): text free of them. */
export const SAFE_TEXT = new RegExp(`^[^${UNSAFE_RANGES}]*$`);
/** What String.prototype.trim() removes that UNSAFE_NAME_CHARS does not already refuse. */
const TRIMMED_SPACE = ' \\u00a0\\u1680\\u2000-\\u200a\\u202f\\u205f\\u3000\\ufeff';
/**
 * A display name: safe text with at least one character trim() keeps. Linear on any input (the two
 * leading classes are disjoint), so a megabyte of spaces costs no backtracking.
 */
export const SAFE_NAME = new RegExp(`^[${TRIMMED_SPACE}]*[^${UNSAFE_RANGES}${TRIMMED_SPACE}][^${UNSAFE_RANGES}]*$`);
