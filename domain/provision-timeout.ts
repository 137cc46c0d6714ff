// The ONE accessor for a workspace's provision timeout. The registration wait in the provision
// workflow, the deadline shown by GET /workspaces/:id and the stuck-provisioning sweep all call it
// (the reference once had a UI honouring a template's longer window while its sweeper killed rows at a
// hardcoded 10 minutes).

export const DEFAULT_PROVISION_TIMEOUT_SECONDS = 10 * 60;
export const HERMES_PROVISION_TIMEOUT_SECONDS = 30 * 60;
/** The longest timeout anyone may set (template, API, environment): a week. */
export const MAX_PROVISION_TIMEOUT_SECONDS = 7 * 24 * 3600;

export interface ProvisionTimeoutInput {
  /** PROVISION_TIMEOUT_SECONDS from the platform's environment. */
  envOverrideSeconds?: number | null;
  /** The template's runtime_config.provision_timeout_seconds, stored on the workspace row. */
  templateSeconds?: number | null;
  runtime: string;
}

function valid(n: number | null | undefined): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n > 0 && n <= MAX_PROVISION_TIMEOUT_SECONDS;
}

export function resolveProvisionTimeout(input: ProvisionTimeoutInput): number {
  if (valid(input.envOverrideSeconds)) return input.envOverrideSeconds;
  if (valid(input.templateSeconds)) return input.templateSeconds;
  if (input.runtime === 'hermes') return HERMES_PROVISION_TIMEOUT_SECONDS;
  return DEFAULT_PROVISION_TIMEOUT_SECONDS;
}

/** Deadline for a provision that started at `startedAtMs`; same accessor, so every reader agrees. */
export function provisionDeadline(startedAtMs: number, input: ProvisionTimeoutInput): number {
  return startedAtMs + resolveProvisionTimeout(input) * 1000;
}
