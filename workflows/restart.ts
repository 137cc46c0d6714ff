// RestartWorkspace (SPEC §3). One workflow per workspace (id restart-<id>), fed by signal-with-start,
// so coalescing holds across any number of API replicas: a request during a running cycle sets the
// pending flag; when the cycle's new container is UP (the child provision returned online) the loop
// runs exactly one more cycle, which reads the newest secrets. A failed cycle is recorded and the loop
// continues, so a crash never wedges later restarts.
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
  setHandler,
  sleep,
  workflowInfo,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { LifecycleActivities } from '../activities/lifecycle-activities';
import { WorkspaceIdKey } from '../domain/search-attributes';
import { workflowIds } from '../domain/vocabulary';
import { dbActivityOptions, computeActivityOptions } from './activity-options';
import {
  RESTART_CYCLES_PER_RUN,
  RESTART_HISTORY_EVENTS,
  restartRequestedSignal,
  restartStateQuery,
  type RestartInput,
  type RestartResult,
  type RestartState,
} from './definitions';
import { provisionWorkspace } from './provision';
import { stopWithRetry } from './stop-with-retry';

const db = proxyActivities<LifecycleActivities>(dbActivityOptions);
const compute = proxyActivities<LifecycleActivities>(computeActivityOptions);

/** How long a cycle waits for a provision it superseded to finish its compensation. */
const SUPERSEDE_WAIT_SECONDS = 120;

export const RESTART_CONTINUE_AS_NEW_PATCH = 'restart-continue-as-new';

export async function restartWorkspace(input: RestartInput): Promise<RestartResult> {
  const { workspaceId } = input;
  const { runId } = workflowInfo();
  const state: RestartState = { workspaceId, cyclesCompleted: 0, pending: false, phase: 'idle' };
  let requests = 0;
  let rebuildRequested = false;
  setHandler(restartRequestedSignal, (req) => {
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
  await condition(() => requests > 0, '1 minute');
  let cycles = 0;
  let failedCycles = 0;
  let leakSuspects = 0;
  const cyclesPerRun = Math.max(1, input.cyclesPerRun ?? RESTART_CYCLES_PER_RUN);

  while (requests > 0) {
    const info = workflowInfo();
    const long = cycles >= cyclesPerRun || info.historyLength >= RESTART_HISTORY_EVENTS || info.continueAsNewSuggested;
    // Older runs replay without the patch marker, so they keep looping as they did.
    if (cycles > 0 && long && patched(RESTART_CONTINUE_AS_NEW_PATCH)) {
      // Read in the same workflow task as the command: a signal that arrives meanwhile makes the server
      // refuse the completion and run the task again with it, so no request is dropped at the switch.
      await continueAsNew<typeof restartWorkspace>({
        workspaceId,
        cyclesPerRun: input.cyclesPerRun,
        carried: { requests, rebuildConfig: rebuildRequested },
      });
    }
    requests = 0;
    state.pending = false;
    const rebuildConfig = rebuildRequested;
    rebuildRequested = false;
    cycles++;
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
      await reprovision(workspaceId, `${runId}-${cycles}`);
      await db.emitRestarted({ workspaceId, runId, cycle: cycles });
      await db.recordLifecycle({ workspaceId, action: 'restart.cycle', message: `restart cycle ${cycles} completed`, dedupeKey: `${runId}:cycle:${cycles}` });
    } catch (err) {
      if (isCancellation(err)) throw err;
      failedCycles++;
      await db.recordLifecycle({
        workspaceId,
        action: 'restart.cycle_failed',
        level: 'error',
        message: `restart cycle ${cycles} failed`,
        dedupeKey: `${runId}:cycle-failed:${cycles}`,
      });
    }
    state.cyclesCompleted = cycles;
  }
  state.phase = 'done';
  return { workspaceId, cycles, failedCycles, leakSuspects };
}

/** Runs the provision workflow as a child, superseding (cancelling) a provision already running. */
async function reprovision(workspaceId: string, attemptTag: string): Promise<void> {
  const workflowId = workflowIds.provision(workspaceId);
  for (let waited = 0; ; waited++) {
    try {
      await executeChild(provisionWorkspace, {
        workflowId,
        args: [{ workspaceId }],
        // A cancelled restart cancels its provision, whose compensation then removes the new container.
        parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
        typedSearchAttributes: [{ key: WorkspaceIdKey, value: workspaceId }],
        memo: { startedBy: attemptTag },
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
