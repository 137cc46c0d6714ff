// Signal, query and update names shared by workflows and the API client.
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import { RESTART_REQUESTED_SIGNAL, type AutoRestartRequest, type RestartInput, type RestartRequest } from '../domain/restart-contract';
import type { ItemCursor } from '../domain/import-item-cursor';
import type { OrgImportMode } from '../domain/vocabulary';

export type { AutoRestartRequest, RestartInput, RestartRequest };

export const PROVISION_PHASES = [
  'queued',
  'preparing',
  'minting_credentials',
  'starting_compute',
  'awaiting_registration',
  'online',
  'awaiting_agent',
  'compensating',
  'failed',
  'cancelled',
] as const;
export type ProvisionPhase = (typeof PROVISION_PHASES)[number];

export interface ProvisionState {
  phase: ProvisionPhase;
  workspaceId: string;
  timeoutSeconds: number | null;
  /** Sanitized; never an internal error string. */
  lastError: string | null;
}

/** Who registered: the provision run that minted the agent's token (null: a token minted outside a run). */
export interface AgentRegistration {
  runId: string | null;
}

/**
 * The agent inside the workspace registered (sent by POST /registry/register). Senders before the
 * run-ownership patch sent no argument; runs before it count any signal.
 */
export const agentRegisteredSignal = defineSignal<[AgentRegistration?]>('agentRegistered');
export const provisionStateQuery = defineQuery<ProvisionState>('provisionState');

export interface ProvisionInput {
  workspaceId: string;
  /** MODEL from the request payload; wins over the MODEL secret. */
  model?: string | null;
}

export interface ProvisionResult {
  workspaceId: string;
  status: 'online' | 'awaiting_agent';
  /** External runtime only: the new auth token sealed with the platform key, so it never sits in history in clear. */
  sealedToken?: string;
}

/** A restart was requested (API and liveness pass: signal-with-start on restart-<workspaceId>). */
export const restartRequestedSignal = defineSignal<[RestartRequest]>(RESTART_REQUESTED_SIGNAL);

export interface RestartState {
  workspaceId: string;
  cyclesCompleted: number;
  /** True when a request arrived during the running cycle: one more cycle will follow it. */
  pending: boolean;
  phase: 'idle' | 'backoff' | 'stopping' | 'reprovisioning' | 'done';
  /** The automatic restart this run serves or waits for, if any. */
  auto?: AutoRestartRequest | null;
}
export const restartStateQuery = defineQuery<RestartState>('restartState');

/**
 * A restart loop fed by a steady stream of requests would grow one history forever. Before starting
 * another cycle, a run that has done RESTART_CYCLES_PER_RUN cycles, or whose history has passed
 * RESTART_HISTORY_EVENTS (or that Temporal suggests continuing), continues as new, carrying the
 * pending requests and the rebuild flag. A cycle adds about 40 events plus 1 to 4 per signal that
 * arrives during it, so every run's history stays under RESTART_HISTORY_EVENTS + one cycle:
 * RESTART_HISTORY_BOUND (2,000 events), the documented bound.
 */
export const RESTART_CYCLES_PER_RUN = 25;
export const RESTART_HISTORY_EVENTS = 1_500;
export const RESTART_HISTORY_BOUND = 2_000;


export interface RestartResult {
  workspaceId: string;
  cycles: number;
  failedCycles: number;
  leakSuspects: number;
  /** Automatic cycles run, and automatic requests found void when their turn came. */
  autoCycles?: number;
  autoSkipped?: number;
}

export interface DeleteTreeInput {
  rootId: string;
  purge: boolean;
  /** Compute ids per page (default COMPUTE_PAGE_SIZE); tests page a small tree with a tiny one. */
  computePageSize?: number;
}

export interface StopFailure {
  workspace_id: string;
  error: string;
}

export interface DeleteTreeResult {
  rootId: string;
  /** Runs before bounded payloads: every id the cascade touched (purge acted on exactly this set). */
  removedIds?: string[];
  /** How many workspaces the cascade touched (the rows carry the run's id in Postgres). */
  removedCount?: number;
  /** The first STOP_FAILURES_REPORTED failures (all of them in runs before bounded payloads). */
  stopFailures: StopFailure[];
  /** All stop failures, also those not listed. */
  stopFailureCount?: number;
  purged: number;
}

/** A delete's removed count, whichever version of the workflow produced the result. */
export function removedCountOf(result: DeleteTreeResult): number {
  return result.removedCount ?? result.removedIds?.length ?? 0;
}

/** A delete's stop failure count, whichever version of the workflow produced the result. */
export function stopFailureCountOf(result: DeleteTreeResult): number {
  return result.stopFailureCount ?? result.stopFailures.length;
}

export interface DeleteTreeState {
  phase: 'marking' | 'cancelling_operations' | 'stopping_compute' | 'broadcasting' | 'purging' | 'done';
  total: number;
  computeTotal: number;
  computeDone: number;
  stopFailures: number;
}
export const deleteStateQuery = defineQuery<DeleteTreeState>('deleteState');

export interface ComputeBatchInput {
  workspaceIds: string[];
}
export interface ComputeBatchResult {
  stopped: string[];
  failures: StopFailure[];
}

export interface ImportOrgInput {
  importId: string;
  /** How many provision child workflows run at once. */
  provisionConcurrency?: number;
  /** Items read (and their outcomes recorded) per page of the provisioning phase (tests make it tiny). */
  pageSize?: number;
  /** A run continues as new after this many provisioned items, so its history stays bounded. */
  itemsPerRun?: number;
  /** Set by a run that continued as new: where the import stands (absent in the first run). */
  carry?: ImportCarry;
}

/** What a continued run of an import needs from the runs before it (small, whatever the tree's size). */
export interface ImportCarry {
  phase: 'provisioning';
  mode: OrgImportMode;
  /** Every item to provision at or before it has its outcome recorded; null: none yet. */
  cursor: ItemCursor | null;
  progress: ImportProgress;
  /** Workflow time (ms) the first run started: org.import.completed's duration covers every run. */
  startedAt: number;
}

export interface ImportProgress {
  phase: 'starting' | 'creating' | 'provisioning' | 'reconciling' | 'completed' | 'failed' | 'cancelled';
  total: number;
  created: number;
  skipped: number;
  provisioned: number;
  failed: number;
  /** Items a restart or re-provision took over during the import (not failures). */
  superseded?: number;
  /** Items deleted during the import (not failures). */
  removed?: number;
  reconcileRemoved: number;
  toProvision: number;
}
export const importProgressQuery = defineQuery<ImportProgress>('importProgress');

export interface ImportOrgResult extends ImportProgress {
  importId: string;
  error: string | null;
}

// --- pause, resume, hibernation (SPEC-ADDENDUM A10) ---

export interface PauseTreeInput {
  rootId: string;
  /** Ids per page (default PAUSE_PAGE_SIZE); tests page a small tree with a tiny one. */
  pageSize?: number;
}
export interface PauseTreeResult {
  rootId: string;
  /** Runs before bounded payloads: every id the pause claimed. */
  pausedIds?: string[];
  /** How many workspaces the pause claimed (the rows carry the run's event in Postgres). */
  pausedCount?: number;
  /**
   * Workspaces whose compute did not stop (each recorded as LEAK-SUSPECT); they stay paused. The first
   * STOP_FAILURES_REPORTED of them (all of them in runs before bounded payloads).
   */
  stopFailures: StopFailure[];
  /** All stop failures, also those not listed. */
  stopFailureCount?: number;
}
export interface ResumeTreeInput {
  rootId: string;
  /** Workspaces per page (default RESUME_PAGE_SIZE); tests page a small tree with a tiny one. */
  pageSize?: number;
}
export interface ResumeTreeResult {
  rootId: string;
  /** Runs before bounded payloads: every id the resume claimed. */
  resumedIds?: string[];
  /** How many workspaces the resume claimed. */
  resumedCount?: number;
  /** Provisions started (asynchronously; each workspace's own provision-<id> workflow reports it). */
  started: number;
  /**
   * Ids whose provision could not be started (one was running already, or the start failed): the
   * first NOT_STARTED_REPORTED of them (all of them in runs before bounded payloads).
   */
  notStarted: string[];
  /** All provisions not started, also those not listed. */
  notStartedCount?: number;
}
/** What the claim step of a pause or resume answers the API (A10.1-2): how many rows it took. */
export interface ClaimCount {
  count: number;
}
/** Waits until the workflow's claim has committed and answers its count (update-with-start). */
export const pauseClaimedUpdate = defineUpdate<ClaimCount>('pauseClaimed');
export const resumeClaimedUpdate = defineUpdate<ClaimCount>('resumeClaimed');

export interface PauseBatchInput {
  workspaceIds: string[];
}
export interface PauseBatchResult {
  stopped: string[];
  failures: StopFailure[];
}
export interface ResumeBatchInput {
  workspaceIds: string[];
}
export interface ResumeBatchResult {
  started: string[];
  notStarted: string[];
}

export interface HibernateInput {
  workspaceId: string;
  /** Hibernate even when the agent reports active tasks. */
  force: boolean;
}
export type HibernateResult =
  | { outcome: 'hibernated'; workspaceId: string }
  /** Nothing claimed: not online/degraded (any more), or active tasks without force. */
  | { outcome: 'not_claimed'; workspaceId: string; status: string | null; activeTasks: number }
  /** The compute did not stop: the workspace runs on in its previous status. */
  | { outcome: 'stop_failed'; workspaceId: string }
  /** A pause or delete took the row over while it was hibernating. */
  | { outcome: 'superseded'; workspaceId: string };

export interface IdleMonitorInput {
  /** At most this many workspaces per pass (default IDLE_MONITOR_BATCH). */
  limit?: number;
}
export interface IdleMonitorResult {
  candidates: number;
  hibernated: string[];
  skipped: number;
}
export const IDLE_MONITOR_BATCH = 100;
