// What users see in last_sample_error and API answers. Internal error strings (stack traces, engine
// messages, SQL, key material) never reach them: every failure maps to a fixed sentence.
import { FAILURE_TYPES } from './errors';

export const PUBLIC_MESSAGES = {
  decryptFailed: 'Workspace secrets could not be decrypted. Re-save the secrets and provision again.',
  imageMissing: 'The workspace image for this runtime is not available on the compute host.',
  computeUnavailable: 'The compute provider is unavailable. Try again later.',
  cancelled: 'Provisioning was cancelled.',
  abandoned: 'Provisioning stopped before it completed. Provision the workspace again.',
  generic: 'Provisioning failed. See the workspace activity log for details.',
  paused: 'The workspace is paused or hibernating; resume or wake it to start it again.',
} as const;

const NAME = /^[A-Z][A-Z0-9_]{0,127}$/;

export function missingEnvMessage(names: string[]): string {
  // Names are validated before they reach here; filter again so nothing else can slip through.
  const safe = names.filter((n) => NAME.test(n) || /^[A-Z][A-Z0-9_|]{0,400}$/.test(n)).slice(0, 50);
  return `Missing required environment variables: ${safe.join(', ')}`;
}

export function timeoutMessage(seconds: number): string {
  return `The agent did not register within ${seconds} seconds.`;
}

/** Maps an activity failure type to the public message; unknown types get the generic sentence. */
export function publicMessageForFailure(type: string | undefined, details?: { missing?: string[] }): string {
  switch (type) {
    case FAILURE_TYPES.decryptFailed:
      return PUBLIC_MESSAGES.decryptFailed;
    case FAILURE_TYPES.missingRequiredEnv:
      return missingEnvMessage(details?.missing ?? []);
    case FAILURE_TYPES.imageMissing:
      return PUBLIC_MESSAGES.imageMissing;
    case FAILURE_TYPES.computeUnavailable:
      return PUBLIC_MESSAGES.computeUnavailable;
    case FAILURE_TYPES.workspacePaused:
      return PUBLIC_MESSAGES.paused;
    default:
      return PUBLIC_MESSAGES.generic;
  }
}
