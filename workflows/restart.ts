// RestartWorkspace (SPEC §3). One workflow per workspace (id restart-<id>), fed by signal-with-start,
// so coalescing holds across any number of API replicas: a request during a running cycle sets the
// pending flag; when the cycle's new container is UP (the child provision returned online) the loop
// runs exactly one more cycle, which reads the newest secrets. A failed cycle is recorded and the loop
// continues, so a crash never wedges later restarts.
// Automatic restarts (issue 17) come through the same signal, carrying the claim a liveness pass made
// on the row: the run waits the claim's backoff (a manual request ends the wait and is served instead),
// takes the claim up only if the workspace still needs it, and after a failed automatic cycle claims
// the next attempt itself, until the crash-loop budget fails the workspace. An automatic request that
// arrives while a cycle runs or is due is dropped: that cycle brings the agent back anyway.
import {
  ApplicationFailure,
  CancellationScope,
  ParentClosePolicy,
  condition,
  continueAsNew,
  executeChild,
  getExternalWorkflowHandle,
  isCancellation,
  patched,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { AutoRestartActivities } from '../activities/auto-restart-activities';
import type { LifecycleActivities } from '../activities/lifecycle-activities';
import { AutoRestartKey, WorkspaceIdKey, WorkspaceNameKey } from '../domain/search-attributes';
import { workspaceNameAttribute, workspaceSummary, type WorkspaceLabel } from '../domain/workflow-summary';
import { workflowIds } from '../domain/vocabulary';
import { dbActivityOptions, computeActivityOptions } from './activity-options';
import {
  RESTART_CYCLES_PER_RUN,
  RESTART_HISTORY_EVENTS,
  restartRequestedSignal,
  restartStateQuery,
  type AutoRestartRequest,
  type RestartInput,
  type RestartResult,
  type RestartState,
} from './definitions';
import { provisionWorkspace } from './provision';
import { stopWithRetry } from './stop-with-retry';

const db = proxyActivities<LifecycleActivities>(dbActivityOptions);
const compute = proxyActivities<LifecycleActivities>(computeActivityOptions);
const autoRestarts = proxyActivities<AutoRestartActivities>(dbActivityOptions);

/** How long a cycle waits for a provision it superseded to finish its compensation. */
const SUPERSEDE_WAIT_SECONDS = 120;

export const RESTART_CONTINUE_AS_NEW_PATCH = 'restart-continue-as-new';

export async function restartWorkspace(input: RestartInput): Promise<RestartResult> {
  const { workspaceId } = input;
  const { runId } = workflowInfo();
  const state: RestartState = { workspaceId, cyclesCompleted: 0, pending: false, phase: 'idle', auto: null };
  let requests = 0;
  let rebuildRequested = false;
  let autoPending: AutoRestartRequest | null = input.carried?.auto ?? null;
  let cycleRunning = false;
  setHandler(restartRequestedSignal, (req) => {
    if (req.auto) {
      if (cycleRunning || requests > 0) return;
      // A repeated request for the claim already pending is the same request.
      if (!autoPending || req.auto.seq > autoPending.seq) autoPending = req.auto;
      state.auto = autoPending;
      return;
    }
    requests++;
    rebuildRequested ||= req.rebuildConfig;
    state.pending = true;
  });
  setHandler(restartStateQuery, () => state);

  // Requests the previous run had not served yet (continue-as-new).
  if (input.carried) {
    requests += input.carried.requests;
    rebuildRequested ||= input.carried.rebuildConfig;
    state.pending = requests > 0;
  }

  // Started by signal-with-start, so the first request is already delivered; a bare start waits briefly.
  await condition(() => requests > 0 || autoPending !== null, '1 minute');
  let cycles = 0;
  let failedCycles = 0;
  let leakSuspects = 0;
  let autoCycles = 0;
  let autoSkipped = 0;
  const cyclesPerRun = Math.max(1, input.cyclesPerRun ?? RESTART_CYCLES_PER_RUN);

  while (requests > 0 || autoPending) {
    const info = workflowInfo();
    const long = cycles >= cyclesPerRun || info.historyLength >= RESTART_HISTORY_EVENTS || info.continueAsNewSuggested;
    // Older runs replay without the patch marker, so they keep looping as they did.
    if (cycles > 0 && long && patched(RESTART_CONTINUE_AS_NEW_PATCH)) {
      // Read in the same workflow task as the command: a signal that arrives meanwhile makes the server
      // refuse the completion and run the task again with it, so no request is dropped at the switch.
      await continueAsNew<typeof restartWorkspace>({
        workspaceId,
        cyclesPerRun: input.cyclesPerRun,
        ...(input.workspace ? { workspace: input.workspace } : {}),
        carried: { requests, rebuildConfig: rebuildRequested, auto: autoPending },
      });
    }
    let serving: AutoRestartRequest | null = null;
    if (requests === 0 && autoPending) {
      const pending = autoPending;
      showAutoRestart(pending);
      state.phase = 'backoff';
      if (pending.delaySeconds > 0) await condition(() => requests > 0, pending.delaySeconds * 1000);
      autoPending = null;
      if (requests === 0) {
        // A person restarting meanwhile (served below instead), a heartbeat, a pause or a delete voids it.
        if (!(await autoRestarts.beginAutoRestart({ workspaceId, seq: pending.seq }))) {
          autoSkipped++;
          state.auto = null;
          state.phase = 'idle';
          continue;
        }
        serving = pending;
      }
    }
    // A manual cycle serves a pending automatic request as well.
    autoPending = null;
    state.auto = serving;
    requests = 0;
    state.pending = false;
    const rebuildConfig = rebuildRequested;
    rebuildRequested = false;
    cycles++;
    cycleRunning = true;
    let cycleFailed = false;
    try {
      state.phase = 'stopping';
      const stop = await stopWithRetry(workspaceId).catch(async (err: unknown) => {
        if (isCancellation(err)) {
          await CancellationScope.nonCancellable(() =>
            db.recordLifecycle({ workspaceId, action: 'restart.stop.cancelled', message: 'restart cancelled while stopping; no further attempts', level: 'warn' }),
          );
        }
        throw err;
      });
      if (!stop.stopped) {
        // Restart's contract is "make it alive again": record the suspect and reprovision anyway.
        leakSuspects++;
        await db.recordLeakSuspect({ workspaceId, operation: 'restart', attempts: stop.attempts });
      }
      await compute.removeContainer({ workspaceId, removeVolume: rebuildConfig });

      state.phase = 'reprovisioning';
      await reprovision(workspaceId, `${runId}-${cycles}`, input.workspace);
      await db.emitRestarted({ workspaceId, runId, cycle: cycles });
      await db.recordLifecycle({ workspaceId, action: 'restart.cycle', message: `restart cycle ${cycles} completed`, dedupeKey: `${runId}:cycle:${cycles}` });
    } catch (err) {
      if (isCancellation(err)) throw err;
      failedCycles++;
      cycleFailed = true;
      await db.recordLifecycle({
        workspaceId,
        action: 'restart.cycle_failed',
        level: 'error',
        message: `restart cycle ${cycles} failed`,
        dedupeKey: `${runId}:cycle-failed:${cycles}`,
      });
    }
    cycleRunning = false;
    state.cyclesCompleted = cycles;
    if (serving) {
      autoCycles++;
      // Past the budget the claim fails the workspace (crash loop) and answers null.
      if (cycleFailed && requests === 0) autoPending = await autoRestarts.claimNextAutoRestart({ workspaceId, servedSeq: serving.seq });
      state.auto = autoPending;
    }
  }
  state.phase = 'done';
  return autoCycles + autoSkipped > 0
    ? { workspaceId, cycles, failedCycles, leakSuspects, autoCycles, autoSkipped }
    : { workspaceId, cycles, failedCycles, leakSuspects };
}

/** The Temporal UI says what this run is doing: its current details and a filterable search attribute. */
function showAutoRestart(req: AutoRestartRequest): void {
  const text = `auto-restart, attempt ${req.attempt} of ${req.maxAttempts}`;
  setCurrentDetails(req.delaySeconds > 0 ? `${text} (after a ${req.delaySeconds} s backoff)` : text);
  upsertSearchAttributes([{ key: AutoRestartKey, value: text }]);
}

/** Runs the provision workflow as a child, superseding (cancelling) a provision already running. */
async function reprovision(workspaceId: string, attemptTag: string, workspace: WorkspaceLabel | undefined): Promise<void> {
  const workflowId = workflowIds.provision(workspaceId);
  for (let waited = 0; ; waited++) {
    try {
      await executeChild(provisionWorkspace, {
        workflowId,
        args: [{ workspaceId }],
        // A cancelled restart cancels its provision, whose compensation then removes the new container.
        parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
        typedSearchAttributes: [
          { key: WorkspaceIdKey, value: workspaceId },
          ...(workspace ? [{ key: WorkspaceNameKey, value: workspaceNameAttribute(workspace.name) }] : []),
        ],
        memo: { startedBy: attemptTag },
        // Runs started before issue 18 have no label: their children start as they did.
        ...(workspace ? { staticSummary: workspaceSummary('provision (restart)', workspace) } : {}),
      });
      return;
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      if (waited >= SUPERSEDE_WAIT_SECONDS) throw ApplicationFailure.nonRetryable('a running provision did not finish', 'ProvisionBusy');
      if (waited === 0) await getExternalWorkflowHandle(workflowId).cancel().catch(() => undefined);
      await sleep('1 second');
    }
  }
}
