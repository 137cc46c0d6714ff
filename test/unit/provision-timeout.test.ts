import {
  DEFAULT_PROVISION_TIMEOUT_SECONDS,
  HERMES_PROVISION_TIMEOUT_SECONDS,
  provisionDeadline,
  resolveProvisionTimeout,
} from '../../domain/provision-timeout';

describe('resolveProvisionTimeout', () => {
  it('env override > template > hermes > default', () => {
    expect(resolveProvisionTimeout({ envOverrideSeconds: 5, templateSeconds: 60, runtime: 'hermes' })).toBe(5);
    expect(resolveProvisionTimeout({ templateSeconds: 60, runtime: 'hermes' })).toBe(60);
    expect(resolveProvisionTimeout({ runtime: 'hermes' })).toBe(HERMES_PROVISION_TIMEOUT_SECONDS);
    expect(resolveProvisionTimeout({ runtime: 'claude-code' })).toBe(DEFAULT_PROVISION_TIMEOUT_SECONDS);
    expect(HERMES_PROVISION_TIMEOUT_SECONDS).toBe(1800);
    expect(DEFAULT_PROVISION_TIMEOUT_SECONDS).toBe(600);
  });

  it('ignores invalid values instead of honouring them', () => {
    for (const bad of [0, -1, 1.5, NaN, Infinity, 10 ** 9, null]) {
      expect(resolveProvisionTimeout({ envOverrideSeconds: bad, templateSeconds: bad, runtime: 'codex' })).toBe(600);
    }
  });

  it('deadline uses the same accessor', () => {
    expect(provisionDeadline(1000, { templateSeconds: 30, runtime: 'codex' })).toBe(31_000);
  });
});
