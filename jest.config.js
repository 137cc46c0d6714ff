// Two projects: `unit` runs pure-function tests with no servers; `integration` runs against the real
// servers that test/harness/global-setup.ts starts (Temporal dev server, Postgres, Podman, moto).
// Type errors are caught by `tsc --noEmit` (run by scripts/test.sh before jest), so ts-jest only transpiles.
const tsJest = ['ts-jest', { diagnostics: false }];
/** @type {import('jest').Config} */
module.exports = {
  testTimeout: 120000,
  projects: [
    {
      displayName: 'unit',
      testEnvironment: 'node',
      transform: { '^.+\\.ts$': tsJest },
      testMatch: ['<rootDir>/test/unit/**/*.test.ts'],
    },
    {
      displayName: 'integration',
      testEnvironment: 'node',
      transform: { '^.+\\.ts$': tsJest },
      testMatch: ['<rootDir>/test/integration/**/*.test.ts'],
      // Runs only when an integration test is selected, so `npm run test:unit` needs no servers.
      globalSetup: '<rootDir>/test/harness/global-setup.ts',
      globalTeardown: '<rootDir>/test/harness/global-teardown.ts',
      slowTestThreshold: 60,
    },
  ],
};
