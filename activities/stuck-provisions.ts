// The sweeper's stuck-provision pass: a safety net for `provisioning` rows that no provision will
// finish. A row is failed when no provision workflow of it is running (asked of Temporal, never
// assumed) and either its deadline plus a grace has passed, or it has not changed for a grace period
// (a row whose workflow never started, or ended without marking it). Never a row whose provision
// workflow is running (that workflow enforces the deadline itself), and never a row of an import that
// is still running (it waits its turn in the import's bounded concurrency).
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Config } from '../config';
import { resolveProvisionTimeout } from '../domain/provision-timeout';
import { PUBLIC_MESSAGES, timeoutMessage } from '../domain/public-errors';
import { EVENTS, workflowIds } from '../domain/vocabulary';
import { eventNotice } from './store/db';
import type { WorkspaceStore } from './workspace-store';

/** Beyond the row's deadline, so the sweep never races a provision that is about to fail itself. */
export const STUCK_PROVISION_GRACE_SECONDS = 60;
/** How long a `provisioning` row may sit unchanged with no provision workflow running before it is failed. */
export const NO_WORKFLOW_GRACE_SECONDS = 120;

export interface StuckProvision {
  workspaceId: string;
  reason: string;
  publicMessage: string;
  timeoutSeconds: number | null;
  /** What the row looked like when found: the write happens only if it is still so. */
  seen: { runId: string | null; updatedMicros: string };
}

interface CandidateRow {
  id: string;
  runtime: string;
  provision_timeout_seconds: number | null;
  provision_run_id: string | null;
  provision_started_at: Date | null;
  provision_deadline_at: Date | null;
  updated_at: Date;
  updated_us: string;
  now: Date;
}

export function createStuckProvisionPass(deps: { store: WorkspaceStore; config: Config; temporal?: Client }) {
  const { store, config, temporal } = deps;

  /** RUNNING, or another status name, or null when the workflow never existed. */
  async function provisionStatus(workspaceId: string): Promise<string | null> {
    if (!temporal) throw new Error('no temporal client');
    try {
      return (await temporal.workflow.getHandle(workflowIds.provision(workspaceId)).describe()).status.name;
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return null;
      throw err;
    }
  }

  return {
    async find(skipped: string[]): Promise<StuckProvision[]> {
      const { rows } = await store.pool.query<CandidateRow>(
        `SELECT w.id, w.runtime, w.provision_timeout_seconds, w.provision_run_id, w.provision_started_at,
                w.provision_deadline_at, w.updated_at, now() AS now,
                (extract(epoch FROM w.updated_at) * 1000000)::bigint::text AS updated_us
           FROM workspaces w
          WHERE w.status = 'provisioning'
            AND NOT EXISTS (SELECT 1 FROM org_imports i WHERE i.id = w.org_import_id AND i.status = 'running')`,
      );
      const found: StuckProvision[] = [];
      let unchecked = 0;
      for (const row of rows) {
        const timeout = resolveProvisionTimeout({ envOverrideSeconds: config.PROVISION_TIMEOUT_SECONDS, templateSeconds: row.provision_timeout_seconds, runtime: row.runtime });
        // Rows begun before migration 004 have no stored deadline: the same accessor gives it.
        const deadline = row.provision_deadline_at?.getTime() ?? (row.provision_started_at ? row.provision_started_at.getTime() + timeout * 1000 : null);
        const now = row.now.getTime();
        const pastDeadline = deadline !== null && now >= deadline + STUCK_PROVISION_GRACE_SECONDS * 1000;
        const idle = now >= row.updated_at.getTime() + NO_WORKFLOW_GRACE_SECONDS * 1000;
        if (!pastDeadline && !idle) continue;
        if (!temporal) {
          // Without Temporal a running workflow cannot be ruled out: only the deadline rule acts (as before 004).
          if (!pastDeadline) {
            unchecked++;
            continue;
          }
        } else if ((await provisionStatus(row.id)) === 'RUNNING') {
          continue;
        }
        const seen = { runId: row.provision_run_id, updatedMicros: row.updated_us };
        found.push(
          pastDeadline
            ? { workspaceId: row.id, reason: `provisioning past its ${timeout}s deadline`, publicMessage: timeoutMessage(timeout), timeoutSeconds: timeout, seen }
            : { workspaceId: row.id, reason: 'provisioning with no running provision workflow', publicMessage: PUBLIC_MESSAGES.abandoned, timeoutSeconds: null, seen },
        );
      }
      if (unchecked > 0) skipped.push(`temporal client unavailable: ${unchecked} provisioning rows without a deadline not checked for a running workflow`);
      return found;
    },

    /**
     * Fails the row only if nothing wrote it since it was found (a provision that began meanwhile
     * wins); the failure and its WORKSPACE_PROVISION_FAILED are one statement, so neither exists alone.
     */
    async fail(stuck: StuckProvision): Promise<boolean> {
      const payload = stuck.timeoutSeconds === null ? { error: stuck.publicMessage } : { error: stuck.publicMessage, timeout_secs: stuck.timeoutSeconds };
      const { rows } = await store.pool.query<{ failed: number }>(
        `WITH failed AS (
           UPDATE workspaces SET status = 'failed', last_sample_error = $2, updated_at = now()
            WHERE id = $1 AND status = 'provisioning' AND provision_run_id IS NOT DISTINCT FROM $3
              AND (extract(epoch FROM updated_at) * 1000000)::bigint = $4::bigint
           RETURNING id),
         inserted AS (
           INSERT INTO structure_events (event_type, workspace_id, payload)
           SELECT $5, id, $6::jsonb FROM failed RETURNING workspace_id),
         notified AS (SELECT pg_notify('molecule_events', $7) FROM inserted)
         SELECT (SELECT count(*) FROM failed)::int AS failed, (SELECT count(*) FROM notified)::int AS notified`,
        [stuck.workspaceId, stuck.publicMessage, stuck.seen.runId, stuck.seen.updatedMicros, EVENTS.workspaceProvisionFailed, JSON.stringify(payload),
          eventNotice(EVENTS.workspaceProvisionFailed, stuck.workspaceId, null)],
      );
      return rows[0]?.failed === 1;
    },
  };
}
