// The orphan sweeper (SPEC §4) and the safety-net monitors. One routine serves the scheduled sweep
// workflow (acting) and GET /admin/orphans (dry run: reports what it would do, changes nothing).
// Guards from the reference's incidents: a Docker daemon error skips the container AND token passes
// (an empty list from a missing engine must never revoke every token); a failed stop keeps the volume;
// a volume-removal error is logged and the pass continues.
import type { Client } from '@temporalio/client';
import type { Config } from '../config';
import type { ComputePorts } from './compute-ports';
import { containerName, PROVISION_RUN_LABEL } from '../domain/vocabulary';
import type { ManagedContainer, MinimalLogger } from './docker-compute';
import { createLivenessSweeper, type LivenessAction, type LivenessFinding } from './liveness-sweeper';
import { createStuckProvisionPass } from './stuck-provisions';
import type { WorkspaceStore } from './workspace-store';

export const TOKEN_GRACE_SECONDS = 5 * 60;
export { NO_WORKFLOW_GRACE_SECONDS, STUCK_PROVISION_GRACE_SECONDS } from './stuck-provisions';
/**
 * How old an instance tagged for a live workspace, but not the one its row names, must be before the
 * sweeper terminates it. A launch records its instance id within seconds of RunInstances answering;
 * 10 minutes also covers a worker that dies in between and an activity retry that finds the instance
 * by its client token and records it.
 */
export const EC2_LEAK_GRACE_SECONDS = 10 * 60;

type Action = 'removed' | 'would_remove' | 'remove_failed' | 'revoked' | 'would_revoke' | 'failed' | 'would_fail' | LivenessAction | 'terminated' | 'would_terminate' | 'terminate_failed';

export interface SweepFinding {
  kind: 'container' | 'volume' | 'instance' | 'token' | 'stuck_provision' | LivenessFinding['kind'];
  id: string;
  workspaceId: string | null;
  reason: string;
  action: Action;
}

export interface SweepReport {
  dryRun: boolean;
  findings: SweepFinding[];
  skipped: string[];
}

export interface OrphanSweeperDeps {
  store: WorkspaceStore;
  compute: ComputePorts;
  config: Config;
  log: MinimalLogger;
  /** Tells the stuck-provision pass whether a provision workflow is running (the worker's and API's client). */
  temporal?: Client;
  /** EC2_LEAK_GRACE_SECONDS unless a test says otherwise (moto's launch times are always "now"). */
  ec2LeakGraceSeconds?: number;
}

interface SweptRow {
  status: string;
  instance_id: string | null;
  provision_run_id: string | null;
  may_have_older_container_names: boolean;
}

/** Label values are anyone's text: only a uuid-shaped one may reach a uuid column. */
const looksLikeUuid = (id: string): boolean => /^[0-9a-f-]{36}$/i.test(id);

export function createOrphanSweeper({ store, compute, config, log, temporal, ec2LeakGraceSeconds = EC2_LEAK_GRACE_SECONDS }: OrphanSweeperDeps) {
  const pool = store.pool;
  const stuckProvisions = createStuckProvisionPass({ store, config, temporal });
  const livenessSweeper = createLivenessSweeper({ store, config, compute, temporal, log });

  /** The rows the passes judge engine objects by, keyed by workspace id (label values that are no uuid have none). */
  async function rowsOf(ids: string[]): Promise<Map<string, SweptRow>> {
    const valid = ids.filter(looksLikeUuid);
    if (valid.length === 0) return new Map();
    const { rows } = await pool.query<SweptRow & { id: string }>(
      'SELECT id, status, instance_id, provision_run_id, may_have_older_container_names FROM workspaces WHERE id = ANY($1::uuid[])',
      [valid],
    );
    return new Map(rows.map((r) => [r.id, r]));
  }
  const workspaceIdsOf = (objects: Array<{ workspaceId: string | null }>): string[] => objects.map((o) => o.workspaceId ?? '').filter(Boolean);

  const orphanReason = (workspaceId: string | null, rows: Map<string, SweptRow>): string | null => {
    const row = workspaceId ? rows.get(workspaceId) : undefined;
    if (!row) return 'no workspace row';
    return row.status === 'removed' ? 'workspace removed' : null;
  };

  /**
   * A live workspace's container left by an earlier run under another name than containerName() (one an
   * operator renamed): its token is revoked, and no provision looks for it any more where the row rules
   * older names out. The run label proves it is not the workspace's current container, renamed or not.
   */
  const staleRenamedReason = (c: ManagedContainer, rows: Map<string, SweptRow>): string | null => {
    const row = c.workspaceId ? rows.get(c.workspaceId) : undefined;
    if (!row || !c.workspaceId || row.may_have_older_container_names || row.provision_run_id === null) return null;
    if (c.name === containerName(c.workspaceId) || c.labels[PROVISION_RUN_LABEL] === row.provision_run_id) return null;
    return 'an earlier run\'s container under another name';
  };

  /** Every finding goes into the report and the log; an acting sweep also writes it to activity_logs. */
  async function record(report: SweepReport, f: SweepFinding): Promise<void> {
    report.findings.push(f);
    log.info({ sweeper: true, ...f }, 'orphan sweeper');
    if (!report.dryRun) {
      await store.recordActivity({ workspaceId: f.workspaceId && looksLikeUuid(f.workspaceId) ? f.workspaceId : null, action: `sweeper.${f.kind}`, level: 'warn', message: `${f.reason}: ${f.action}`, details: { id: f.id } });
    }
  }

  async function dockerPasses(report: SweepReport): Promise<void> {
    const { dryRun } = report;
    const docker = compute.docker;
    if (!docker) return;
    let containers: Awaited<ReturnType<typeof docker.listManagedContainers>>;
    try {
      containers = await docker.listManagedContainers();
    } catch {
      report.skipped.push('docker engine unavailable: container, volume and token passes skipped');
      return;
    }
    const containerRows = await rowsOf(workspaceIdsOf(containers));
    const goneIds = new Set<string>();
    for (const c of containers) {
      // Found by label, acted on by engine id: whatever its name (an older naming scheme, a rename),
      // the container the listing showed is the one stopped and removed.
      const reason = orphanReason(c.workspaceId, containerRows) ?? staleRenamedReason(c, containerRows);
      if (!reason) continue;
      const finding: SweepFinding = { kind: 'container', id: c.id, workspaceId: c.workspaceId, reason, action: 'would_remove' };
      if (!dryRun) {
        try {
          await docker.removeContainerById(c.id, { stopTimeoutSeconds: 10 });
          finding.action = 'removed';
          goneIds.add(c.id);
        } catch {
          finding.action = 'remove_failed'; // still there: its volume stays until a later pass removes it
        }
      }
      await record(report, { ...finding, reason: `${reason} (${c.name})` });
    }

    let volumes: Awaited<ReturnType<typeof docker.listManagedVolumes>> = [];
    try {
      volumes = await docker.listManagedVolumes();
    } catch {
      report.skipped.push('docker engine unavailable: volume pass skipped');
    }
    const volumeRows = await rowsOf(workspaceIdsOf(volumes));
    const liveContainerFor = new Set(containers.filter((c) => c.workspaceId && !goneIds.has(c.id)).map((c) => c.workspaceId as string));
    for (const v of volumes) {
      const reason = orphanReason(v.workspaceId, volumeRows);
      // Never remove a volume whose container still exists (e.g. its stop failed just now).
      if (!reason || (v.workspaceId && liveContainerFor.has(v.workspaceId))) continue;
      const finding: SweepFinding = { kind: 'volume', id: v.name, workspaceId: v.workspaceId, reason, action: 'would_remove' };
      if (!dryRun) {
        try {
          await docker.removeVolume(v.name);
          finding.action = 'removed';
        } catch {
          finding.action = 'remove_failed'; // logged; the pass continues
        }
      }
      await record(report, finding);
    }

    // Stale tokens: only here, where the engine answered, so "no container" is known, not assumed.
    const runningFor = new Set(containers.filter((c) => c.running && c.workspaceId && !goneIds.has(c.id)).map((c) => c.workspaceId as string));
    const { rows } = await pool.query<{ id: string }>(
      `SELECT DISTINCT w.id FROM workspaces w JOIN workspace_auth_tokens t ON t.workspace_id = w.id AND t.revoked_at IS NULL
        WHERE w.compute = 'docker'
          AND COALESCE(t.last_used_at, t.created_at) < now() - make_interval(secs => $1)
          AND NOT EXISTS (SELECT 1 FROM workspace_auth_tokens t2 WHERE t2.workspace_id = w.id AND t2.revoked_at IS NULL
                           AND COALESCE(t2.last_used_at, t2.created_at) >= now() - make_interval(secs => $1))`,
      [TOKEN_GRACE_SECONDS],
    );
    const candidates = rows.map((r) => r.id).filter((id) => !runningFor.has(id));
    // The write re-checks what the read saw (a restart may mint, or an agent use its token, in between).
    const revoked = dryRun ? candidates : await store.revokeStaleTokens(candidates, TOKEN_GRACE_SECONDS);
    for (const id of revoked) {
      await record(report, { kind: 'token', id, workspaceId: id, reason: 'live token, no running container, idle past grace', action: dryRun ? 'would_revoke' : 'revoked' });
    }
  }

  async function ec2Pass(report: SweepReport): Promise<void> {
    const { dryRun } = report;
    const ec2 = compute.ec2;
    if (!ec2) return;
    let instances: Awaited<ReturnType<typeof ec2.listManagedInstances>>;
    try {
      instances = await ec2.listManagedInstances();
    } catch {
      report.skipped.push('ec2 unavailable: instance pass skipped');
      return;
    }
    const rows = await rowsOf(workspaceIdsOf(instances));
    const now = Date.now();
    for (const inst of instances) {
      if (inst.state === 'terminated' || inst.state === 'shutting-down') continue;
      const row = inst.workspaceId ? rows.get(inst.workspaceId) : undefined;
      let reason = orphanReason(inst.workspaceId, rows);
      if (!reason && row && row.instance_id !== inst.instanceId) {
        // A live workspace's row names another instance (or none): a cancelled launch, or one a restart
        // gave up stopping (LEAK-SUSPECT). Never while a provision runs (status provisioning: it may not
        // have saved this id yet), and only once the launch is older than the grace, which is longer
        // than any launch takes to record its id (an instance EC2 gave no launch time is left alone).
        const age = inst.launchTime ? (now - inst.launchTime.getTime()) / 1000 : -1;
        if (row.status !== 'provisioning' && age >= ec2LeakGraceSeconds) reason = 'live workspace names another instance';
      }
      if (!reason) continue;
      const finding: SweepFinding = { kind: 'instance', id: inst.instanceId, workspaceId: inst.workspaceId, reason, action: 'would_terminate' };
      if (!dryRun) {
        try {
          await ec2.terminateInstance(inst.instanceId);
          finding.action = 'terminated';
        } catch {
          finding.action = 'terminate_failed';
        }
      }
      await record(report, finding);
    }
  }

  /** Safety net: fails `provisioning` rows no provision will finish (see stuck-provisions.ts). */
  async function stuckProvisionPass(report: SweepReport): Promise<void> {
    const { dryRun } = report;
    for (const stuck of await stuckProvisions.find(report.skipped)) {
      const finding: SweepFinding = { kind: 'stuck_provision', id: stuck.workspaceId, workspaceId: stuck.workspaceId, reason: stuck.reason, action: 'would_fail' };
      if (!dryRun) {
        if (!(await stuckProvisions.fail(stuck))) continue; // written meanwhile: a provision began or ended
        finding.action = 'failed';
      }
      await record(report, finding);
    }
  }

  /** Health (A1): silent agents go offline, silent external agents awaiting_agent (liveness-sweeper.ts). */
  async function heartbeatPass(report: SweepReport): Promise<void> {
    for (const finding of await livenessSweeper.sweep({ dryRun: report.dryRun })) await record(report, finding);
  }

  return {
    async sweep(opts: { dryRun: boolean }): Promise<SweepReport> {
      const report: SweepReport = { dryRun: opts.dryRun, findings: [], skipped: [] };
      await dockerPasses(report);
      await ec2Pass(report);
      await stuckProvisionPass(report);
      await heartbeatPass(report);
      return report;
    },
  };
}
