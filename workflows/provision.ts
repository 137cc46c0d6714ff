// ProvisionWorkspace: SPEC §2 as a durable workflow. Steps: prepare (secrets, env, preflight) → mint
// credentials → start compute → wait for the agent to register (bounded by the runtime's timeout) →
// online. Any failure, timeout or cancellation runs compensation in a non-cancellable scope: diagnostics
// saved, compute removed, status `failed` with a sanitized message.
import {
  ActivityCancellationType,
  ApplicationFailure,
  CancellationScope,
  condition,
  isCancellation,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { PreparedProvision, ProvisionActivities } from '../activities/provision-activities';
import { FAILURE_TYPES } from '../domain/errors';
import { PUBLIC_MESSAGES, publicMessageForFailure, timeoutMessage } from '../domain/public-errors';
import { ProvisionPhaseKey, WorkspaceNameKey, WorkspaceRuntimeKey } from '../domain/search-attributes';
import { workspaceNameAttribute } from '../domain/workflow-summary';
import { computeActivityOptions, dbActivityOptions, dbLocalActivityOptions } from './activity-options';
import {
  agentRegisteredSignal,
  provisionStateQuery,
  type ProvisionInput,
  type ProvisionPhase,
  type ProvisionResult,
  type ProvisionState,
} from './definitions';

const dbRemote = proxyActivities<ProvisionActivities>(dbActivityOptions);
const dbLocal = proxyLocalActivities<ProvisionActivities>(dbLocalActivityOptions);
const compute = proxyActivities<ProvisionActivities>(computeActivityOptions);
/**
 * startCompute of runs since the run-ownership patch: a cancellation waits until the start attempt has
 * really ended, so the compensation that follows sees (and removes) everything it created.
 */
const computeUntilEnded = proxyActivities<ProvisionActivities>({
  ...computeActivityOptions,
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
});

/** Thrown when the agent does not register in time; the workflow fails with this type. */
export const PROVISION_TIMEOUT_TYPE = 'ProvisionTimeout';

/**
 * New runs make their Postgres calls as local activities and fuse the first three into one
 * (beginProvision); runs started before keep replaying the three normal activities.
 */
export const LOCAL_DB_ACTIVITIES_PATCH = 'provision-local-db-activities';

/**
 * Runs since this patch own their workspace row (issue 13): the registration signal counts only with
 * this run's id (the token's run), the wait ends at the row's provision_deadline_at (the one deadline),
 * the lost-signal fallback requires a registration with this run's token, startCompute's cancellation
 * waits for the attempt to end, and compensation removes exactly this run's compute.
 */
export const RUN_OWNERSHIP_PATCH = 'provision-run-ownership';

export async function provisionWorkspace(input: ProvisionInput): Promise<ProvisionResult> {
  const { runId, runStartTime } = workflowInfo();
  const fast = patched(LOCAL_DB_ACTIVITIES_PATCH);
  const owned = fast && patched(RUN_OWNERSHIP_PATCH);
  const db = fast ? dbLocal : dbRemote;
  const state: ProvisionState = { phase: 'queued', workspaceId: input.workspaceId, timeoutSeconds: null, lastError: null };
  let registered = false;
  setHandler(provisionStateQuery, () => state);
  setHandler(agentRegisteredSignal, (registration) => {
    // An agent with another run's (older) token cannot complete this provision.
    if (!owned || registration?.runId === runId) registered = true;
  });
  const enter = (phase: ProvisionPhase) => {
    state.phase = phase;
    upsertSearchAttributes([{ key: ProvisionPhaseKey, value: phase }]);
  };

  enter('preparing');
  // prepareProvision marks the workspace failed itself on its business failures (decrypt, preflight).
  const failPrepare = (err: unknown): never => {
    enter('failed');
    state.lastError = publicMessageFromError(err);
    throw ApplicationFailure.nonRetryable(state.lastError, failureType(err) ?? 'ProvisionFailed');
  };
  const prepareInput = owned
    ? { workspaceId: input.workspaceId, model: input.model, runId, runStartedAtMs: runStartTime.getTime() }
    : { workspaceId: input.workspaceId, model: input.model, runId };
  // New runs: one local activity prepares, mints and marks provisioning (or awaiting_agent).
  const begun = fast ? await db.beginProvision(prepareInput).catch(failPrepare) : null;
  const prepared: PreparedProvision = begun ?? (await db.prepareProvision(prepareInput).catch(failPrepare));
  state.timeoutSeconds = prepared.timeoutSeconds;
  // The name too (issue 18), in the same upsert: a provision started as a child (import, restart,
  // resume) or by an older API is found by its workspace's name in the UI all the same.
  upsertSearchAttributes([
    { key: WorkspaceRuntimeKey, value: prepared.runtime },
    ...(prepared.name ? [{ key: WorkspaceNameKey, value: workspaceNameAttribute(prepared.name) }] : []),
  ]);

  let sealedToken: string;
  if (begun) {
    sealedToken = begun.sealedToken;
  } else {
    enter('minting_credentials');
    ({ sealedToken } = await db.mintCredentials({ workspaceId: input.workspaceId }));
  }

  if (prepared.compute === 'none') {
    if (!begun) await db.markAwaitingAgent({ workspaceId: input.workspaceId, runId });
    enter('awaiting_agent');
    return { workspaceId: input.workspaceId, status: 'awaiting_agent', sealedToken };
  }

  if (!begun) await db.markProvisioning({ workspaceId: input.workspaceId, runId });
  let timedOut = false;
  try {
    enter('starting_compute');
    await (owned ? computeUntilEnded : compute).startCompute({ workspaceId: input.workspaceId, runId, sealedToken, model: input.model });

    enter('awaiting_registration');
    // The row's deadline, set when the run began: what GET shows and what the sweeper acts on.
    const deadlineAtMs = owned ? begun?.deadlineAtMs : null;
    const waitMs = deadlineAtMs ? Math.max(1, deadlineAtMs - Date.now()) : prepared.timeoutSeconds * 1000;
    const inTime = await condition(() => registered, waitMs);
    // A lost signal must not fail a workspace whose agent did register: the row is the truth.
    if (!inTime && !(await db.isOnline(owned ? { workspaceId: input.workspaceId, runId } : { workspaceId: input.workspaceId }))) {
      timedOut = true;
      throw ApplicationFailure.nonRetryable(timeoutMessage(prepared.timeoutSeconds), PROVISION_TIMEOUT_TYPE);
    }
    await db.markOnline({ workspaceId: input.workspaceId, runId });
    enter('online');
    return { workspaceId: input.workspaceId, status: 'online' };
  } catch (err) {
    const cancelled = isCancellation(err);
    const publicMessage = cancelled
      ? PUBLIC_MESSAGES.cancelled
      : timedOut
        ? timeoutMessage(prepared.timeoutSeconds)
        : publicMessageFromError(err);
    state.lastError = publicMessage;
    await CancellationScope.nonCancellable(async () => {
      enter('compensating');
      await compute.captureDiagnostics({ workspaceId: input.workspaceId, runId });
      await compute.removeCompute(owned ? { workspaceId: input.workspaceId, runId } : { workspaceId: input.workspaceId });
      // markProvisionFailed never overwrites `removed`, so a delete that cancelled us keeps its status.
      await db.markProvisionFailed({
        workspaceId: input.workspaceId,
        runId,
        publicMessage,
        timeoutSecs: timedOut ? prepared.timeoutSeconds : undefined,
      });
      enter(cancelled ? 'cancelled' : 'failed');
    });
    if (cancelled) throw err;
    // Fail the workflow with the sanitized message only: the Temporal UI shows users' words, not internals.
    throw ApplicationFailure.nonRetryable(publicMessage, failureType(err) ?? 'ProvisionFailed');
  }
}

function failureType(err: unknown): string | undefined {
  if (err instanceof ApplicationFailure) return err.type ?? undefined;
  const cause = (err as { cause?: unknown } | null)?.cause;
  return cause instanceof ApplicationFailure ? (cause.type ?? undefined) : undefined;
}

function publicMessageFromError(err: unknown): string {
  const type = failureType(err);
  if (type === PROVISION_TIMEOUT_TYPE) return (err as ApplicationFailure).message;
  const cause = (err as { cause?: unknown } | null)?.cause;
  const app = err instanceof ApplicationFailure ? err : cause instanceof ApplicationFailure ? cause : undefined;
  const details = app?.details?.[0] as { missing?: string[] } | undefined;
  if (type === FAILURE_TYPES.missingRequiredEnv) return publicMessageForFailure(type, details);
  return publicMessageForFailure(type);
}
