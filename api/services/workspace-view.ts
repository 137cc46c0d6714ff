// Row → API shape. The effective provision timeout comes from the same accessor the workflow uses
// (resolveProvisionTimeout); the deadline is the one the run stored, so the UI's countdown is the
// enforced deadline.
import type { Config } from '../../config';
import type { WorkspaceRow } from '../../activities/workspace-store';
import { provisionDeadline, resolveProvisionTimeout, type ProvisionTimeoutInput } from '../../domain/provision-timeout';
import { toHeartbeatView } from '../heartbeat-schema';
import type { WorkspaceView } from '../schemas';

const iso = (d: Date | null) => (d ? d.toISOString() : null);

/**
 * The deadline the provision run stored when it began (the workflow waits until it, the sweeper acts
 * after it); rows begun before migration 004 derive it from their start time with the same accessor.
 */
function provisionDeadlineOf(row: WorkspaceRow, timeoutInput: ProvisionTimeoutInput): string | null {
  if (row.provision_deadline_at) return row.provision_deadline_at.toISOString();
  return row.provision_started_at ? new Date(provisionDeadline(row.provision_started_at.getTime(), timeoutInput)).toISOString() : null;
}

export function toWorkspaceView(row: WorkspaceRow, config: Config): WorkspaceView {
  const timeoutInput = {
    envOverrideSeconds: config.PROVISION_TIMEOUT_SECONDS,
    templateSeconds: row.provision_timeout_seconds,
    runtime: row.runtime,
  };
  return {
    id: row.id,
    name: row.name,
    role: row.role,
    tier: row.tier,
    runtime: row.runtime,
    compute: row.compute,
    parent_id: row.parent_id,
    url: row.url,
    status: row.status,
    delivery_mode: row.delivery_mode,
    update_tier: row.update_tier,
    model: row.model,
    instance_id: row.instance_id,
    container_name: row.container_name,
    last_sample_error: row.last_sample_error,
    max_concurrent_tasks: row.max_concurrent_tasks,
    provision_timeout_seconds: resolveProvisionTimeout(timeoutInput),
    provision_deadline: row.status === 'provisioning' ? provisionDeadlineOf(row, timeoutInput) : null,
    required_env: row.required_env,
    origin: row.origin,
    org_key: row.org_key,
    org_import_id: row.org_import_id,
    collapsed: row.collapsed,
    workspace_dir: row.workspace_dir,
    x: row.x,
    y: row.y,
    last_heartbeat_at: iso(row.last_heartbeat_at),
    hibernation_idle_minutes: row.hibernation_idle_minutes,
    heartbeat: toHeartbeatView(row),
    removed_at: iso(row.removed_at),
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}
