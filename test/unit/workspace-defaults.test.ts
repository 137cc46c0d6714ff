import { computeFor, deliveryModeFor, initialStatusFor } from '../../domain/workspace-defaults';

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
