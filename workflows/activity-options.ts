// Timeouts and retry policies, grouped by kind of activity. Business failures are non-retryable by
// type; everything else (a Postgres restart, an engine hiccup) retries with backoff.
import type { ActivityOptions, LocalActivityOptions } from '@temporalio/workflow';
import { FAILURE_TYPES } from '../domain/errors';

const nonRetryableErrorTypes = Object.values(FAILURE_TYPES);

/** Fast Postgres calls: short attempts, retried until the database is back (bounded overall). */
export const dbActivityOptions: ActivityOptions = {
  startToCloseTimeout: '30 seconds',
  scheduleToCloseTimeout: '10 minutes',
  retry: { initialInterval: '500 milliseconds', backoffCoefficient: 2, maximumInterval: '10 seconds', nonRetryableErrorTypes },
};

/**
 * The same Postgres calls as local activities: run by the worker inside the workflow task, with no
 * server round trip to schedule and complete each one. On the provision path this is most of the
 * time between the API's answer and the container start (see bench B2's stage rows). Retries are the
 * same; a long outage waits on a workflow timer instead of a busy workflow task.
 */
export const dbLocalActivityOptions: LocalActivityOptions = {
  startToCloseTimeout: dbActivityOptions.startToCloseTimeout,
  scheduleToCloseTimeout: dbActivityOptions.scheduleToCloseTimeout,
  retry: dbActivityOptions.retry,
  localRetryThreshold: '5 seconds',
};

/** Container / instance calls: slower, heartbeating while they wait on the provider. */
export const computeActivityOptions: ActivityOptions = {
  startToCloseTimeout: '6 minutes',
  scheduleToCloseTimeout: '30 minutes',
  heartbeatTimeout: '1 minute',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds', nonRetryableErrorTypes },
};
