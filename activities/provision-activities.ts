// Activities of the provision workflow. Each may run more than once: writes are conditional or
// deduplicated, compute calls are idempotent by deterministic name / ClientToken, and secrets (env
// values, the auth token) never leave an activity in clear, so they never land in workflow history.
import { createHash } from 'node:crypto';
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Config } from '../config';
import { imageForRuntime } from '../config';
import { containerLimitsFor } from '../config/container-limits';
import { ComputeError, FAILURE_TYPES } from '../domain/errors';
import { assembleEnv } from '../domain/provision-env';
import { resolveProvisionTimeout } from '../domain/provision-timeout';
import { missingEnvMessage, PUBLIC_MESSAGES } from '../domain/public-errors';
import { EVENTS, type ComputeKind, type Runtime } from '../domain/vocabulary';
import { portRequirer, removeWorkspaceContainer, type ComputePorts } from './compute-ports';
import { DecryptError, type SecretBox } from './crypto';
import type { WorkspaceRow, WorkspaceStore } from './workspace-store';

export interface ProvisionActivityDeps {
  store: WorkspaceStore;
  box: SecretBox;
  config: Config;
  compute: ComputePorts;
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

export interface ComputeRef {
  compute: ComputeKind;
  containerName?: string;
  instanceId?: string;
}

const DIAGNOSTIC_LOG_LINES = 50;

/** ≤64 ASCII chars, stable per workspace and provision run: a retried launch cannot make a second instance. */
export function ec2ClientToken(workspaceId: string, runId: string): string {
  return createHash('sha256').update(`${workspaceId}:${runId}`).digest('hex').slice(0, 64);
}

export function createProvisionActivities(deps: ProvisionActivityDeps) {
  const { store, box, config, compute } = deps;

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

  /** Assembles env from the secrets read. Business failures mark the workspace failed and do not retry. */
  async function buildEnv(ws: WorkspaceRow, read: SecretsRead, requestModel: string | null | undefined, dedupe: string) {
    if (!read.ok) {
      if (!(read.err instanceof DecryptError)) throw read.err;
      await failWorkspace(ws.id, PUBLIC_MESSAGES.decryptFailed, dedupe, {});
      throw ApplicationFailure.nonRetryable('secrets could not be decrypted', FAILURE_TYPES.decryptFailed);
    }
    const secrets = read.secrets;
    const assembled = assembleEnv({
      workspace: { id: ws.id, name: ws.name, parentId: ws.parent_id, model: ws.model },
      globalSecrets: secrets.global,
      workspaceSecrets: secrets.workspace,
      requestModel,
      requiredEnv: ws.required_env,
      platform: {
        WORKSPACE_ID: ws.id,
        PLATFORM_URL: config.PLATFORM_URL,
        HEARTBEAT_INTERVAL: String(config.HEARTBEAT_INTERVAL_SECONDS),
      },
    });
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
  ): Promise<void> {
    // A removed workspace stays removed, and no failure is broadcast for it (a delete cancelled us).
    const failed = await store.setStatus(workspaceId, 'failed', { lastSampleError: publicMessage }, {
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

  async function prepare(input: { workspaceId: string; model?: string | null; runId: string }): Promise<PreparedProvision> {
    const { ws, secrets } = await liveWorkspaceWithSecrets(input.workspaceId);
    const env = await buildEnv(ws, secrets, input.model, input.runId);
    return {
      workspaceId: ws.id,
      name: ws.name,
      runtime: ws.runtime,
      compute: ws.compute,
      timeoutSeconds: resolveProvisionTimeout({
        envOverrideSeconds: config.PROVISION_TIMEOUT_SECONDS,
        templateSeconds: ws.provision_timeout_seconds,
        runtime: ws.runtime,
      }),
      envNames: Object.keys(env).sort(),
    };
  }

  /** Revokes old tokens, issues a new one; returns it sealed (never in clear in history). */
  async function mintSealed(workspaceId: string): Promise<{ sealedToken: string }> {
    const { token } = await store.mintCredentials(workspaceId);
    return { sealedToken: box.seal(token) };
  }

  async function markProvisioning(input: { workspaceId: string; runId: string }): Promise<void> {
    await store.setStatus(
      input.workspaceId,
      'provisioning',
      { lastSampleError: null, provisionStarted: true },
      { type: EVENTS.workspaceProvisioning, dedupeKey: `${input.runId}:provisioning` },
    );
  }

  async function markAwaitingAgent(input: { workspaceId: string; runId: string }): Promise<void> {
    await store.setStatus(input.workspaceId, 'awaiting_agent', { lastSampleError: null });
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
     * agent) as one step: one activity instead of three on the provision path. A retry re-runs all
     * three: a token minted by a failed attempt was never handed out and is revoked by the next mint.
     */
    async beginProvision(input: { workspaceId: string; model?: string | null; runId: string }): Promise<PreparedProvision & { sealedToken: string }> {
      const prepared = await prepare(input); // checks the workspace is live
      // Independent, idempotent writes: side by side, one round trip on the provision's critical path.
      const [{ sealedToken }] = await Promise.all([
        mintSealed(input.workspaceId),
        prepared.compute === 'none' ? markAwaitingAgent(input) : markProvisioning(input),
      ]);
      return { ...prepared, sealedToken };
    },

    async startCompute(input: { workspaceId: string; runId: string; sealedToken: string; model?: string | null }): Promise<ComputeRef> {
      const { ws, secrets } = await liveWorkspaceWithSecrets(input.workspaceId);
      const env = await buildEnv(ws, secrets, input.model, input.runId);
      const token = box.open(input.sealedToken);
      try {
        if (ws.compute === 'docker') {
          const docker = requirePort('docker');
          // No ensureNetwork() first: startContainer creates the network only when the engine says it is missing.
          const started = await docker.startContainer({
            workspaceId: ws.id,
            image: imageForRuntime(config, ws.runtime),
            env,
            files: { '.auth_token': token },
            provisionRunId: input.runId,
            limits: containerLimitsFor(config.containerLimits, ws.runtime),
          });
          await store.setComputeRefs(ws.id, { containerName: started.containerName });
          return { compute: 'docker', containerName: started.containerName };
        }
        if (ws.compute === 'ec2') {
          const ec2 = requirePort('ec2');
          const launched = await ec2.launchInstance({
            workspaceId: ws.id,
            clientToken: ec2ClientToken(ws.id, input.runId),
            userData: ec2UserData(env, token),
            provisionRunId: input.runId,
          });
          // Persist as soon as known, before waiting: a crash now still leaves the id for cleanup.
          await store.setComputeRefs(ws.id, { instanceId: launched.instanceId });
          await ec2.waitRunning(launched.instanceId, { timeoutMs: 5 * 60_000, onPoll: () => Context.current().heartbeat() });
          return { compute: 'ec2', instanceId: launched.instanceId };
        }
        return { compute: 'none' };
      } catch (err) {
        asActivityFailure(err);
      }
    },

    /** Fallback for a lost registration signal: the register endpoint writes `online` before signalling. */
    async isOnline(input: { workspaceId: string }): Promise<boolean> {
      const ws = await store.getWorkspace(input.workspaceId);
      return ws?.status === 'online';
    },

    async markOnline(input: { workspaceId: string; runId: string }): Promise<boolean> {
      return store.setStatus(input.workspaceId, 'online', { lastSampleError: null }, { type: EVENTS.workspaceOnline, dedupeKey: `${input.runId}:online` });
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

    /** Removes what a provision attempt created. Idempotent: missing compute is success. */
    async removeCompute(input: { workspaceId: string }): Promise<void> {
      const ws = await store.getWorkspace(input.workspaceId);
      if (!ws) return;
      if (ws.compute === 'docker') {
        await removeWorkspaceContainer(store, requirePort('docker'), ws.id, { removeVolume: true });
      } else if (ws.compute === 'ec2' && ws.instance_id) {
        await requirePort('ec2').terminateInstance(ws.instance_id);
        await store.setComputeRefs(ws.id, { instanceId: null });
      }
    },

    async markProvisionFailed(input: { workspaceId: string; runId: string; publicMessage: string; timeoutSecs?: number }): Promise<void> {
      await failWorkspace(input.workspaceId, input.publicMessage, input.runId, input.timeoutSecs ? { timeout_secs: input.timeoutSecs } : {});
    },
  };
}

export type ProvisionActivities = ReturnType<typeof createProvisionActivities>;

/** cloud-init user data: writes the token where the agent expects it and the env file beside it. */
export function ec2UserData(env: Record<string, string>, token: string): string {
  // Base64 keeps arbitrary secret values (quotes, newlines) from ever being parsed by the shell.
  const b64 = (v: string) => Buffer.from(v, 'utf8').toString('base64');
  const envFile = Object.entries(env)
    .filter(([k]) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(k))
    .map(([k, v]) => `${k}=${b64(v)}`)
    .join('\n');
  return [
    '#!/bin/sh',
    'set -e',
    'umask 077',
    'mkdir -p /configs',
    `echo ${b64(token)} | base64 -d > /configs/.auth_token`,
    `echo ${b64(envFile)} | base64 -d > /configs/agent.env.b64`,
    '',
  ].join('\n');
}
