// The heartbeat body (A2.1) and its clamps. A heartbeat is also the agent's proof of life, so numbers
// out of range are clamped rather than refused (a refused beat would let the liveness sweep take an
// agent that merely miscounts for a dead one); a value of the wrong type, or text Postgres cannot
// store, is a 400 naming the field. Absent or null fields mean "not reported": the stored value stays.
import type { WorkspaceRow } from '../activities/workspace-store';
import { z } from 'zod';

/** A2.2: monthly_spend (cents) is clamped to [0, 1e12]. */
export const MAX_MONTHLY_SPEND_CENTS = 1_000_000_000_000;
/** Bounds of the columns of migration 011. */
export const HEARTBEAT_LIMITS = {
  activeTasks: 1_000_000,
  uptimeSeconds: 315_360_000, // ten years
  idleTimeoutSeconds: 604_800, // a week
  textChars: 1_000,
  runtimeStateChars: 64,
  capabilities: 64,
} as const;

// Postgres text and jsonb cannot hold U+0000; other controls are harmless in a stored report.
const NO_NUL = (s: string) => !s.includes('\u0000');

const clamped = (min: number, max: number, round: (n: number) => number = Math.trunc) =>
  z.number().transform((n) => Math.min(max, Math.max(min, round(n))));

/** Long text is cut at a character (code point) boundary: a report is not worth a refused beat. */
const reportText = (max: number) =>
  z
    .string()
    .refine(NO_NUL, 'must not contain NUL characters')
    .transform((s) => (s.length <= max ? s : Array.from(s).slice(0, max).join('')));

const CAPABILITY_NAME = /^[A-Za-z0-9_.:-]{1,64}$/;
export const runtimeMetadata = z.object({
  // A capability name outside 1-64 letters, digits, _ . : - names nothing the platform knows: it is
  // dropped rather than failing the beat (OpenAPI 3.0 cannot state a key pattern for clients to keep).
  capabilities: z
    .record(z.string(), z.boolean())
    .refine((caps) => Object.keys(caps).length <= HEARTBEAT_LIMITS.capabilities, `at most ${HEARTBEAT_LIMITS.capabilities} capabilities`)
    .meta({ maxProperties: HEARTBEAT_LIMITS.capabilities, description: 'name: bool; names other than 1-64 of A-Z a-z 0-9 _ . : - are ignored' })
    .transform((caps) => Object.fromEntries(Object.entries(caps).filter(([name]) => CAPABILITY_NAME.test(name))))
    .default({}),
  idle_timeout_seconds: clamped(0, HEARTBEAT_LIMITS.idleTimeoutSeconds).nullish(),
});

export const heartbeatBody = z.object({
  workspace_id: z.uuid(),
  error_rate: clamped(0, 1, (n) => n).nullish().describe('share of recent tasks that failed, 0..1 (clamped)'),
  sample_error: reportText(HEARTBEAT_LIMITS.textChars).nullish().describe('one recent error message (cut at 1000 characters)'),
  active_tasks: clamped(0, HEARTBEAT_LIMITS.activeTasks).nullish(),
  uptime_seconds: clamped(0, HEARTBEAT_LIMITS.uptimeSeconds).nullish(),
  current_task: reportText(HEARTBEAT_LIMITS.textChars).nullish().describe('what the agent works on; "" when idle'),
  monthly_spend: clamped(0, MAX_MONTHLY_SPEND_CENTS, Math.round).nullish().describe('cents this month; stored only when > 0'),
  runtime_state: z
    .string()
    .max(HEARTBEAT_LIMITS.runtimeStateChars)
    .regex(/^[^\u0000-\u001f\u007f]*$/, 'must not contain control characters')
    .nullish()
    .describe('"" when healthy; "wedged" degrades the workspace'),
  runtime_metadata: runtimeMetadata.nullish().describe('{capabilities:{name:bool}, idle_timeout_seconds?}; kept until replaced'),
});
export type HeartbeatBody = z.infer<typeof heartbeatBody>;

/** The report record_heartbeat (migration 011) receives: only what was reported. */
export function heartbeatReport(body: HeartbeatBody): Record<string, unknown> {
  const { workspace_id: _id, ...fields } = body;
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined && v !== null));
}

/** What GET /workspaces/:id shows of the latest report (`heartbeat`). */
export const heartbeatView = z.object({
  active_tasks: z.number(),
  current_task: z.string(),
  error_rate: z.number().nullable(),
  uptime_seconds: z.number().nullable(),
  runtime_state: z.string(),
  capabilities: z.record(z.string(), z.boolean()),
  idle_timeout_seconds: z.number().nullable(),
});
export type HeartbeatView = z.infer<typeof heartbeatView>;

export function toHeartbeatView(
  row: Pick<WorkspaceRow, 'active_tasks' | 'current_task' | 'error_rate' | 'uptime_seconds' | 'runtime_state' | 'runtime_metadata'>,
): HeartbeatView {
  return {
    active_tasks: row.active_tasks,
    current_task: row.current_task,
    error_rate: row.error_rate,
    uptime_seconds: row.uptime_seconds,
    runtime_state: row.runtime_state,
    capabilities: row.runtime_metadata?.capabilities ?? {},
    idle_timeout_seconds: row.runtime_metadata?.idle_timeout_seconds ?? null,
  };
}
