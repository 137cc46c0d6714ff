// Automatic restarts of dead agents (A9, issue 17) and their crash-loop budget, kept on the workspace
// row (migration 015) because the restart workflow ends between crashes. Every claim, its event and
// the budget change are one statement (claim_auto_restart), so a pass that runs twice, or two passes
// at once, claim one death once.
import type { Pool } from 'pg';
import type { AutoRestartTrigger } from '../../domain/vocabulary';

/** The crash-loop policy, from AUTO_RESTART_* settings. */
export interface AutoRestartPolicy {
  maxAttempts: number;
  windowSeconds: number;
  backoffSeconds: number;
  backoffMaxSeconds: number;
}

export type AutoRestartClaim =
  | { outcome: 'restart'; attempt: number; seq: number; delaySeconds: number }
  | { outcome: 'exhausted'; attempt: number; seq: number }
  | { outcome: 'skip' };

/** A claimed automatic restart whose restart cycle has not begun yet. */
export interface UnservedAutoRestart {
  id: string;
  attempt: number;
  seq: number;
}

export function createAutoRestartStore(pool: Pool) {
  return {
    /** Claims the next automatic restart of a workspace, or fails it when the budget is spent. */
    async claimAutoRestart(input: {
      workspaceId: string;
      trigger: AutoRestartTrigger;
      /** For `cycle_failed`: the claim the failed cycle served. */
      servedSeq?: number;
      policy: AutoRestartPolicy;
      reason: string;
    }): Promise<AutoRestartClaim> {
      const { policy } = input;
      const { rows } = await pool.query<{ outcome: 'restart' | 'exhausted' | 'skip'; attempt: number; seq: number; delay_seconds: number }>(
        'SELECT outcome, attempt, seq, delay_seconds FROM claim_auto_restart($1, $2, $3, $4, $5, $6, $7, $8)',
        [input.workspaceId, input.trigger, input.servedSeq ?? 0, policy.maxAttempts, policy.windowSeconds, policy.backoffSeconds, policy.backoffMaxSeconds, input.reason],
      );
      const row = rows[0];
      if (!row || row.outcome === 'skip') return { outcome: 'skip' };
      if (row.outcome === 'exhausted') return { outcome: 'exhausted', attempt: row.attempt, seq: row.seq };
      return { outcome: 'restart', attempt: row.attempt, seq: row.seq, delaySeconds: row.delay_seconds };
    },

    /** The restart cycle takes claim `seq` up; false when the workspace no longer needs it. */
    async beginAutoRestart(workspaceId: string, seq: number): Promise<boolean> {
      const { rows } = await pool.query<{ begun: boolean }>('SELECT begin_auto_restart($1, $2) AS begun', [workspaceId, seq]);
      return rows[0]?.begun === true;
    },

    /** A manual restart: a fresh budget; an automatic restart still pending is void. */
    async resetAutoRestart(workspaceId: string): Promise<void> {
      await pool.query('SELECT reset_auto_restart($1)', [workspaceId]);
    },

    /** Offline platform agents that no claim has covered since they went offline. */
    async listAutoRestartDue(limit: number): Promise<string[]> {
      const { rows } = await pool.query<{ id: string }>(
        `SELECT id FROM workspaces
          WHERE status = 'offline' AND runtime <> 'external'
            AND (auto_restart_claimed_at IS NULL OR auto_restart_claimed_at < COALESCE(offline_at, '-infinity'::timestamptz))
          ORDER BY offline_at NULLS FIRST, id LIMIT $1`,
        [limit],
      );
      return rows.map((r) => r.id);
    },

    /**
     * Claims older than `olderThanSeconds` that no restart cycle took up while the workspace still
     * waits (the request may have been lost with a crashed pass): they are requested again, with the
     * same seq, which a restart run already holding it ignores.
     */
    async listUnservedAutoRestarts(olderThanSeconds: number, limit: number): Promise<UnservedAutoRestart[]> {
      const { rows } = await pool.query<{ id: string; auto_restart_attempts: number; auto_restart_seq: number }>(
        `SELECT id, auto_restart_attempts, auto_restart_seq FROM workspaces
          WHERE status IN ('offline', 'failed') AND runtime <> 'external'
            AND auto_restart_seq > auto_restart_served_seq
            AND auto_restart_claimed_at < now() - make_interval(secs => $1)
          ORDER BY auto_restart_claimed_at, id LIMIT $2`,
        [olderThanSeconds, limit],
      );
      return rows.map((r) => ({ id: r.id, attempt: r.auto_restart_attempts, seq: r.auto_restart_seq }));
    },
  };
}
