// Postgres access for workspaces, secrets, credentials, events and activity logs, shared by activities
// and the API. One module per aggregate under store/; this composes them into the one object the
// activity factories and routes receive.
import type { Pool } from 'pg';
import type { SecretBox } from './crypto';
import { createActivityStore } from './store/activity';
import { createAutoRestartStore } from './store/auto-restarts';
import { createBootstrapStore } from './store/bootstrap';
import { createCredentialStore } from './store/credentials';
import { transactionRunner } from './store/db';
import { createDeleteRunStore } from './store/delete-runs';
import { createEventStore } from './store/events';
import { createFileStore } from './store/files';
import { createIdempotencyStore } from './store/idempotency';
import { createLivenessStore } from './store/liveness';
import { createPowerStore } from './store/power';
import { createSecretStore } from './store/secrets';
import { createTokenStore } from './store/tokens';
import { createWorkspaceSettingsStore } from './store/workspace-settings';
import { createWorkspaceRows } from './store/workspaces';

export type { WorkspaceRow, NewWorkspace } from './store/workspaces';
export type { AgentIdentity, AgentAnswer } from './store/credentials';
export type { ActivityEntry, ActivityFilter } from './store/activity';
export type { WorkspacePatch } from './store/workspace-settings';
export type { StaleWorkspace, WatchedWorkspace, DeathReason } from './store/liveness';
export type { AutoRestartPolicy, AutoRestartClaim } from './store/auto-restarts';
export type { ClaimedWorkspace, HibernateClaim, WakeOutcome } from './store/power';
export type { MarkedSubtree } from './store/delete-runs';

export function createWorkspaceStore(pool: Pool, box: SecretBox) {
  const inTransaction = transactionRunner(pool);
  return {
    pool,
    inTransaction,
    ...createWorkspaceRows(pool, inTransaction),
    ...createSecretStore(pool, box),
    ...createCredentialStore(pool, box),
    ...createLivenessStore(pool, box),
    ...createBootstrapStore(pool),
    ...createEventStore(pool),
    ...createFileStore(pool),
    ...createIdempotencyStore(pool, box),
    ...createTokenStore(pool, inTransaction),
    ...createWorkspaceSettingsStore(pool, inTransaction),
    ...createActivityStore(pool),
    ...createAutoRestartStore(pool),
    ...createPowerStore(pool, inTransaction),
    ...createDeleteRunStore(pool, inTransaction),
  };
}

export type WorkspaceStore = ReturnType<typeof createWorkspaceStore>;
