import { computeFor, deliveryModeFor, initialStatusFor, restartsOnConfigWrite } from '../../domain/workspace-defaults';
import type { ComputeKind, WorkspaceStatus } from '../../domain/vocabulary';

describe('new-workspace defaults shared by POST /workspaces and the org import', () => {
  it('computeFor: external has no compute whatever was asked; others take the request, else the default', () => {
    expect(computeFor('external', 'ec2', 'docker')).toBe('none');
    expect(computeFor('claude-code', 'ec2', 'docker')).toBe('ec2');
    expect(computeFor('hermes', undefined, 'ec2')).toBe('ec2');
    expect(computeFor('codex', null, 'docker')).toBe('docker');
  });

  it('deliveryModeFor: external polls, others are pushed to, an explicit choice wins', () => {
    expect(deliveryModeFor('external')).toBe('poll');
    expect(deliveryModeFor('claude-code')).toBe('push');
    expect(deliveryModeFor('external', 'push')).toBe('push');
    expect(deliveryModeFor('hermes', 'poll')).toBe('poll');
  });

  it('initialStatusFor: no compute waits for the external agent, platform compute starts provisioning', () => {
    expect(initialStatusFor('none')).toBe('awaiting_agent');
    expect(initialStatusFor('docker')).toBe('provisioning');
    expect(initialStatusFor('ec2')).toBe('provisioning');
  });
});

describe('restartsOnConfigWrite (A3)', () => {
  const ws = (status: WorkspaceStatus, compute: ComputeKind = 'docker', provision_run_id: string | null = 'run-1') => ({ status, compute, provision_run_id });
  it('restarts a platform-run agent that nobody stopped', () => {
    for (const status of ['online', 'offline', 'degraded', 'failed', 'provisioning'] as const) expect(restartsOnConfigWrite(ws(status))).toBe(true);
  });
  it('leaves external, stopped and removed workspaces, and one whose first provision has not begun', () => {
    expect(restartsOnConfigWrite(ws('online', 'none'))).toBe(false);
    for (const status of ['removed', 'paused', 'hibernated', 'hibernating'] as const) expect(restartsOnConfigWrite(ws(status))).toBe(false);
    expect(restartsOnConfigWrite(ws('provisioning', 'docker', null))).toBe(false);
  });
});
