// Activities of the provision workflow. Each may run more than once: writes are conditional or
// deduplicated, compute calls are idempotent by deterministic name / ClientToken, and secrets (env
// values, the auth token) never leave an activity in clear, so they never land in workflow history.
import { ApplicationFailure, CancelledFailure, Context } from '@temporalio/activity';
import type { Config } from '../config';
import { imageForRuntime } from '../config';
import { containerLimitsFor } from '../config/container-limits';
import { ComputeError, FAILURE_TYPES } from '../domain/errors';
import { resolveProvisionTimeout } from '../domain/provision-timeout';
import { missingEnvMessage, PUBLIC_MESSAGES } from '../domain/public-errors';
import { EVENTS, isParked, type ComputeKind, type Runtime } from '../domain/vocabulary';
import { agentEnv } from './agent-env';
import { agentConfigFiles } from './agent-files';
import { portRequirer, removeWorkspaceContainer, type ComputePorts } from './compute-ports';
import { DecryptError, type SecretBox } from './crypto';
import { ec2ClientToken, ec2UserData } from './ec2-launch-data';
import type { MinimalLogger } from './docker-compute';
import type { WorkspaceRow, WorkspaceStore } from './workspace-store';

export interface ProvisionActivityDeps {
  store: WorkspaceStore;
  box: SecretBox;
  config: Config;
  compute: ComputePorts;
  log?: MinimalLogger;
}

export interface PreparedProvision {
  workspaceId: string;
  name: string;
  runtime: Runtime;
  compute: ComputeKind;
  timeoutSeconds: number;
  /** Names only: values stay inside activities. */
  envNames: string[];
}

/** What beginProvision answers: the prepared provision, this run's token (sealed) and its deadline. */
export interface BegunProvision extends PreparedProvision {
  sealedToken: string;
  /** When the run times out (epoch ms, from the row); null for an external agent, or a run whose row a newer run owns. */
  deadlineAtMs: number | null;
}

export interface ComputeRef {
  compute: ComputeKind;
  containerName?: string;
  instanceId?: string;
}

const DIAGNOSTIC_LOG_LINES = 50;

export function createProvisionActivities(deps: ProvisionActivityDeps) {
  const { store, box, config, compute, log } = deps;

  async function requireLiveWorkspace(workspaceId: string): Promise<WorkspaceRow> {
    const ws = await store.getWorkspace(workspaceId);
    if (!ws) throw ApplicationFailure.nonRetryable('workspace not found', FAILURE_TYPES.workspaceNotFound);
    if (ws.status === 'removed') throw ApplicationFailure.nonRetryable('workspace removed', FAILURE_TYPES.workspaceRemoved);
    return ws;
  }

  type Secrets = Awaited<ReturnType<WorkspaceStore['loadSecrets']>>;
  type SecretsRead = { ok: true; secrets: Secrets } | { ok: false; err: unknown };

  /**
   * The live workspace row and its secrets, read in parallel (two pool connections): both are on the
   * provision's critical path, where each sequential round trip waits for a CPU under a burst.
   */
  async function liveWorkspaceWithSecrets(workspaceId: string): Promise<{ ws: WorkspaceRow; secrets: SecretsRead }> {
    // Settled into a value at once, so a failed read is never an unhandled rejection when the row check throws first.
    const secrets = store.loadSecrets(workspaceId).then(
      (value): SecretsRead => ({ ok: true, secrets: value }),
      (err: unknown): SecretsRead => ({ ok: false, err }),
    );
    const ws = await requireLiveWorkspace(workspaceId);
    return { ws, secrets: await secrets };
  }

  const timeoutFor = (ws: WorkspaceRow) =>
    resolveProvisionTimeout({ envOverrideSeconds: config.PROVISION_TIMEOUT_SECONDS, templateSeconds: ws.provision_timeout_seconds, runtime: ws.runtime });
  const assemble = (ws: WorkspaceRow, secrets: Secrets, requestModel: string | null | undefined) => agentEnv(config, ws, secrets, requestModel);

  /** Assembles env from the secrets read. Business failures mark the workspace failed and do not retry. */
  async function buildEnv(ws: WorkspaceRow, read: SecretsRead, requestModel: string | null | undefined, dedupe: string) {
    if (!read.ok) {
      if (!(read.err instanceof DecryptError)) throw read.err;
      await failWorkspace(ws.id, PUBLIC_MESSAGES.decryptFailed, dedupe, {});
      throw ApplicationFailure.nonRetryable('secrets could not be decrypted', FAILURE_TYPES.decryptFailed);
    }
    const assembled = assemble(ws, read.secrets, requestModel);
    if (assembled.missing.length > 0) {
      await failWorkspace(ws.id, missingEnvMessage(assembled.missing), dedupe, {});
      throw ApplicationFailure.create({
        message: missingEnvMessage(assembled.missing),
        type: FAILURE_TYPES.missingRequiredEnv,
        nonRetryable: true,
        details: [{ missing: assembled.missing }],
      });
    }
    return assembled.env;
  }

  async function failWorkspace(
    workspaceId: string,
    publicMessage: string,
    dedupe: string,
    payload: { timeout_secs?: number },
    ownedByRun?: string,
  ): Promise<void> {
    // A removed workspace stays removed, and no failure is broadcast for it (a delete cancelled us).
    const failed = await store.setStatus(workspaceId, 'failed', { lastSampleError: publicMessage, ownedByRun }, {
      type: EVENTS.workspaceProvisionFailed,
      payload: { error: publicMessage, ...payload },
      dedupeKey: `${dedupe}:failed`,
    });
    if (!failed) return;
    await store.recordActivity({
      workspaceId,
      action: 'provision.failed',
      level: 'error',
      message: publicMessage,
      details: payload,
      dedupeKey: `${dedupe}:failed`,
    });
  }

  function asActivityFailure(err: unknown): never {
    if (err instanceof ComputeError && err.kind === 'image_missing') {
      throw ApplicationFailure.nonRetryable('workspace image missing', FAILURE_TYPES.imageMissing);
    }
    if (err instanceof ComputeError && err.kind === 'invalid') {
      throw ApplicationFailure.nonRetryable('compute request rejected', FAILURE_TYPES.computeUnavailable);
    }
    throw err; // transient: Temporal retries with the activity's policy
  }

  const requirePort = portRequirer(compute);

  /**
   * A provision cancelled by a pause or hibernation (A10) keeps the /configs volume: the workspace comes
   * back on it (a restart's re-provision runs on the volume with the agent's edits).
   */
  const keepsVolume = (ws: WorkspaceRow) => isParked(ws.status);

  async function removeRunCompute(ws: WorkspaceRow, runId: string): Promise<void> {
    if (ws.compute === 'docker') {
      const { removed, others } = await requirePort('docker').removeRunContainers(ws.id, runId, { removeVolume: !keepsVolume(ws) });
      if (removed > 0 && others === 0) await store.setComputeRefs(ws.id, { containerName: null });
    } else if (ws.compute === 'ec2') {
      const ec2 = requirePort('ec2');
      const ids = new Set(await ec2.findRunInstances(ws.id, runId));
      for (const id of ids) await ec2.terminateInstance(id);
      if (ws.instance_id && ids.has(ws.instance_id)) await store.setComputeRefs(ws.id, { instanceId: null });
    }
  }

  function preparedFrom(ws: WorkspaceRow, env: Record<string, string>): PreparedProvision {
    return {
      workspaceId: ws.id,
      name: ws.name,
      runtime: ws.runtime,
      compute: ws.compute,
      timeoutSeconds: timeoutFor(ws),
      envNames: Object.keys(env).sort(),
    };
  }

  async function prepare(input: { workspaceId: string; model?: string | null; runId: string }): Promise<PreparedProvision> {
    const { ws, secrets } = await liveWorkspaceWithSecrets(input.workspaceId);
    return preparedFrom(ws, await buildEnv(ws, secrets, input.model, input.runId));
  }

  /** A newer run of the workspace owns the row: this run's steps are stale and must change nothing. */
  function supersededBy(ws: WorkspaceRow, runId: string, runStartedAtMs: number | null): boolean {
    if (ws.provision_run_id === null || ws.provision_run_id === runId) return false;
    return runStartedAtMs === null || !ws.provision_run_started_at || ws.provision_run_started_at.getTime() > runStartedAtMs;
  }

  const superseded = () => ApplicationFailure.nonRetryable('a newer provision run owns this workspace', FAILURE_TYPES.provisionSuperseded);

  /** Revokes old tokens, issues a new one; returns it sealed (never in clear in history). */
  async function mintSealed(workspaceId: string): Promise<{ sealedToken: string }> {
    const { token } = await store.mintCredentials(workspaceId);
    return { sealedToken: box.seal(token) };
  }

  async function markProvisioning(input: { workspaceId: string; runId: string }): Promise<void> {
    await store.setStatus(
      input.workspaceId,
      'provisioning',
      { lastSampleError: null, provisionStarted: true, claimRun: input.runId },
      { type: EVENTS.workspaceProvisioning, dedupeKey: `${input.runId}:provisioning` },
    );
  }

  async function markAwaitingAgent(input: { workspaceId: string; runId: string }): Promise<void> {
    await store.setStatus(input.workspaceId, 'awaiting_agent', { lastSampleError: null, claimRun: input.runId });
  }

  return {
    // prepareProvision, mintCredentials, markProvisioning and markAwaitingAgent are what provisions
    // started before the local-activities patch still schedule; new runs call beginProvision.
    prepareProvision: prepare,

    async mintCredentials(input: { workspaceId: string }): Promise<{ sealedToken: string }> {
      await requireLiveWorkspace(input.workspaceId);
      return mintSealed(input.workspaceId);
    },

    markProvisioning,
    markAwaitingAgent,

    /**
     * prepareProvision, mintCredentials and markProvisioning (or markAwaitingAgent for an external
     * agent) as one step, safe to run again: a local activity is re-executed by every replay of a
     * workflow task that has not recorded its result, including a stale task a frozen worker runs after
     * another worker finished the provision. The run's token is deterministic (agentTokenForRun), so a
     * re-execution finds its hash stored and changes nothing: no new token, no revocation, no status
     * write (begin_provision, migration 004). A step of a run that a newer run replaced changes nothing
     * either. The check runs beside the row and secrets reads, adding no round trip to the critical path.
     */
    async beginProvision(input: { workspaceId: string; model?: string | null; runId: string; runStartedAtMs?: number }): Promise<BegunProvision> {
      const runStartedAtMs = input.runStartedAtMs ?? null;
      const begunBefore = store.runHasBegun(input.workspaceId, input.runId).then(
        (v) => ({ ok: true as const, v }),
        (err: unknown) => ({ ok: false as const, err }),
      );
      const { ws, secrets } = await liveWorkspaceWithSecrets(input.workspaceId);
      const begun = await begunBefore;
      if (!begun.ok) throw begun.err;
      if (begun.v || ws.provision_run_id === input.runId) {
        // Already took effect for this run: answer as the first execution did, write nothing (not even a failure).
        log?.info({ workspaceId: ws.id, runId: input.runId }, 'provision already begun by this run: nothing changed');
        const env = secrets.ok ? assemble(ws, secrets.secrets, input.model).env : {};
        const deadlineAtMs = ws.provision_run_id === input.runId ? (ws.provision_deadline_at?.getTime() ?? null) : null;
        return { ...preparedFrom(ws, env), sealedToken: box.seal(box.agentTokenForRun(ws.id, input.runId)), deadlineAtMs };
      }
      if (supersededBy(ws, input.runId, runStartedAtMs)) throw superseded();
      const prepared = preparedFrom(ws, await buildEnv(ws, secrets, input.model, input.runId));
      const result = await store.beginProvisionRun({
        workspaceId: ws.id,
        runId: input.runId,
        runStartedAtMs,
        status: prepared.compute === 'none' ? 'awaiting_agent' : 'provisioning',
        timeoutSeconds: prepared.timeoutSeconds,
      });
      if (result.outcome === 'missing') throw ApplicationFailure.nonRetryable('workspace not found', FAILURE_TYPES.workspaceNotFound);
      if (result.outcome === 'removed') throw ApplicationFailure.nonRetryable('workspace removed', FAILURE_TYPES.workspaceRemoved);
      if (result.outcome === 'superseded') throw superseded();
      // Paused or hibernating (A10): fail this run cleanly; the row is left as the operator parked it.
      if (result.outcome === 'paused') throw ApplicationFailure.nonRetryable('workspace paused', FAILURE_TYPES.workspacePaused);
      return { ...prepared, sealedToken: box.seal(result.token), deadlineAtMs: result.deadlineAt?.getTime() ?? null };
    },

    /**
     * Starts this run's compute. Heartbeats between its steps so that a cancellation reaches the
     * attempt, which then stops at the next step: the workflow waits for that end
     * (WAIT_CANCELLATION_COMPLETED) before its compensation removes what the attempt created.
     */
    async startCompute(input: { workspaceId: string; runId: string; sealedToken: string; model?: string | null }): Promise<ComputeRef> {
      const { ws, secrets } = await liveWorkspaceWithSecrets(input.workspaceId);
      if (ws.provision_run_id !== null && ws.provision_run_id !== input.runId) throw superseded();
      const env = await buildEnv(ws, secrets, input.model, input.runId);
      const token = box.open(input.sealedToken);
      const ctx = Context.current();
      const progress = () => {
        ctx.heartbeat();
        if (ctx.cancellationSignal.aborted) throw new CancelledFailure('start cancelled');
      };
      try {
        if (ws.compute === 'docker') {
          const docker = requirePort('docker');
          // No ensureNetwork() first: startContainer creates the network only when the engine says it is missing.
          const started = await docker.startContainer({
            workspaceId: ws.id,
            image: imageForRuntime(config, ws.runtime),
            env,
            files: { '.auth_token': token },
            configFiles: await agentConfigFiles(store, ws),
            provisionRunId: input.runId,
            onProgress: progress,
            limits: containerLimitsFor(config.containerLimits, ws.runtime),
            olderNamesPossible: ws.may_have_older_container_names,
          });
          // The start looked for (and removed) containers under older names when there could be any.
          await store.setComputeRefs(ws.id, { containerName: started.containerName, olderNamesRuledOut: true });
          return { compute: 'docker', containerName: started.containerName };
        }
        if (ws.compute === 'ec2') {
          const ec2 = requirePort('ec2');
          progress();
          // User data carries no secret: the agent exchanges this one-time credential for its token and
          // env over the API. It lives as long as the run may still register.
          const credential = box.bootstrapCredentialForRun(ws.id, input.runId);
          await store.issueBootstrapCredential({
            workspaceId: ws.id,
            runId: input.runId,
            credential,
            expiresAt: ws.provision_deadline_at ?? new Date(Date.now() + timeoutFor(ws) * 1000),
            requestModel: input.model ?? null,
          });
          const launched = await ec2.launchInstance({
            workspaceId: ws.id,
            clientToken: ec2ClientToken(ws.id, input.runId),
            userData: ec2UserData({ platformUrl: config.PLATFORM_URL, workspaceId: ws.id, credential }),
            provisionRunId: input.runId,
          });
          // Persist as soon as known, before waiting: a crash now still leaves the id for cleanup.
          await store.setComputeRefs(ws.id, { instanceId: launched.instanceId });
          await ec2.waitRunning(launched.instanceId, { timeoutMs: 5 * 60_000, onPoll: progress });
          return { compute: 'ec2', instanceId: launched.instanceId };
        }
        return { compute: 'none' };
      } catch (err) {
        asActivityFailure(err);
      }
    },

    /**
     * Fallback for a lost registration signal: the register endpoint writes `online` before signalling.
     * With a run (runs since the run-ownership patch), only a registration with that run's token counts.
     */
    async isOnline(input: { workspaceId: string; runId?: string }): Promise<boolean> {
      const ws = await store.getWorkspace(input.workspaceId);
      if (input.runId !== undefined) return ws?.status === 'online' && ws.registered_run_id === input.runId;
      return ws?.status === 'online';
    },

    /** Only the run that owns the row marks it online (a stale step of an older run changes nothing). */
    async markOnline(input: { workspaceId: string; runId: string }): Promise<boolean> {
      return store.setStatus(
        input.workspaceId,
        'online',
        { lastSampleError: null, ownedByRun: input.runId },
        { type: EVENTS.workspaceOnline, dedupeKey: `${input.runId}:online` },
      );
    },

    /** Saves the container's last log lines (or EC2 console output) so operators can see why it failed. */
    async captureDiagnostics(input: { workspaceId: string; runId: string }): Promise<void> {
      const ws = await store.getWorkspace(input.workspaceId);
      if (!ws) return;
      let output = '';
      try {
        if (ws.compute === 'docker' && compute.docker) output = await compute.docker.tailLogs(ws.id, DIAGNOSTIC_LOG_LINES);
        if (ws.compute === 'ec2' && compute.ec2 && ws.instance_id) output = await compute.ec2.consoleOutput(ws.instance_id);
      } catch {
        output = '(diagnostics unavailable: compute provider did not answer)';
      }
      if (!output) return;
      await store.recordActivity({
        workspaceId: ws.id,
        action: 'provision.diagnostics',
        level: 'error',
        message: output.slice(-16_000),
        details: { source: ws.compute === 'ec2' ? 'console_output' : 'container_logs' },
        dedupeKey: `${input.runId}:diagnostics`,
      });
    },

    /**
     * Removes what a provision attempt created. Idempotent: missing compute is success. With a run
     * (runs since the run-ownership patch): exactly that run's compute, found by its labels/tags, so an
     * instance launched but never saved on the row is found too, and another run's is never touched.
     */
    async removeCompute(input: { workspaceId: string; runId?: string }): Promise<void> {
      const ws = await store.getWorkspace(input.workspaceId);
      if (!ws) return;
      if (input.runId !== undefined) return removeRunCompute(ws, input.runId);
      if (ws.compute === 'docker') {
        await removeWorkspaceContainer(store, requirePort('docker'), ws.id, { removeVolume: !keepsVolume(ws) });
      } else if (ws.compute === 'ec2' && ws.instance_id) {
        await requirePort('ec2').terminateInstance(ws.instance_id);
        await store.setComputeRefs(ws.id, { instanceId: null });
      }
    },

    /** Only the run that owns the row marks it failed: an older run's compensation leaves a newer run's row alone. */
    async markProvisionFailed(input: { workspaceId: string; runId: string; publicMessage: string; timeoutSecs?: number }): Promise<void> {
      await failWorkspace(input.workspaceId, input.publicMessage, input.runId, input.timeoutSecs ? { timeout_secs: input.timeoutSecs } : {}, input.runId);
    },
  };
}

export type ProvisionActivities = ReturnType<typeof createProvisionActivities>;
