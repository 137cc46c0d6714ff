// Stable error codes. Activities throw ApplicationFailure with one of FAILURE_TYPES as its `type` so
// workflows can branch on it; the API maps DomainError codes to HTTP answers in one place.

/** ApplicationFailure types thrown by activities (non-retryable unless stated). */
export const FAILURE_TYPES = {
  decryptFailed: 'DecryptFailed',
  missingRequiredEnv: 'MissingRequiredEnv',
  workspaceNotFound: 'WorkspaceNotFound',
  workspaceRemoved: 'WorkspaceRemoved',
  /** The workspace is paused or hibernating (A10): resume or wake it; a provision never starts it. */
  workspacePaused: 'WorkspacePaused',
  imageMissing: 'ImageMissing',
  computeUnavailable: 'ComputeUnavailable',
  invalidTemplate: 'InvalidTemplate',
  /** A step of a provision run that a newer run of the same workspace has replaced (a stale task). */
  provisionSuperseded: 'ProvisionSuperseded',
} as const;
export type FailureType = (typeof FAILURE_TYPES)[keyof typeof FAILURE_TYPES];

/** Why a compute call failed. `transient` must never be read as "stopped" or "gone". */
export type ComputeErrorKind = 'not_found' | 'transient' | 'image_missing' | 'invalid';

export class ComputeError extends Error {
  constructor(
    readonly kind: ComputeErrorKind,
    message: string,
    readonly statusCode?: number,
  ) {
    super(message);
    this.name = 'ComputeError';
  }
}

/** Errors the API turns into 4xx answers. `message` must never contain raw user input. */
export class DomainError extends Error {
  constructor(
    readonly code: string,
    readonly httpStatus: number,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'DomainError';
  }
}
