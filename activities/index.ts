// Builds every activity from injected dependencies. The worker passes real clients; tests pass real
// clients pointed at the test servers. No module-level singletons.
import type { Logger } from 'pino';
import type { Config } from '../config';
import type { ComputePorts } from './compute-ports';
import type { SecretBox } from './crypto';
import { createLifecycleActivities } from './lifecycle-activities';
import { createProvisionActivities } from './provision-activities';
import type { WorkspaceStore } from './workspace-store';

export interface ActivityDeps {
  store: WorkspaceStore;
  box: SecretBox;
  config: Config;
  compute: ComputePorts;
  log: Logger;
}

export function createActivities(deps: ActivityDeps) {
  return {
    ...createProvisionActivities(deps),
    ...createLifecycleActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
