// Builds every activity from injected dependencies. The worker passes real clients; tests pass real
// clients pointed at the test servers. No module-level singletons.
import type { Logger } from 'pino';
import type { Config } from '../config';
import type { ComputePorts } from './compute-ports';
import type { SecretBox } from './crypto';
import type { Client } from '@temporalio/client';
import { createAutoRestartActivities } from './auto-restart-activities';
import { createDeleteActivities } from './delete-activities';
import { createImportActivities } from './import-activities';
import { createLifecycleActivities } from './lifecycle-activities';
import { createPowerActivities } from './power-activities';
import { createProvisionActivities } from './provision-activities';
import { createSweeperActivities } from './sweeper-activities';
import type { WorkspaceStore } from './workspace-store';
import type { ActivityMetrics } from './metrics-port';

export interface ActivityDeps {
  store: WorkspaceStore;
  box: SecretBox;
  config: Config;
  compute: ComputePorts;
  log: Logger;
  /** Lets delete wait for cancelled operations to finish and the liveness pass request restarts; the worker passes its own client. */
  temporal?: Client;
  /** Sweeper findings are counted here when the worker serves metrics (worker/metrics.ts). */
  metrics?: ActivityMetrics;
}

export function createActivities(deps: ActivityDeps) {
  return {
    ...createProvisionActivities(deps),
    ...createLifecycleActivities(deps),
    ...createDeleteActivities(deps),
    ...createSweeperActivities(deps),
    ...createImportActivities(deps),
    ...createAutoRestartActivities(deps),
    ...createPowerActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
