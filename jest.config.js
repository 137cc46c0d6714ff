// Two projects: `unit` runs pure-function tests with no servers; `integration` runs against the real
// servers that test/harness/global-setup.ts starts (Temporal dev server, Postgres, Podman, moto).
// Type errors are caught by `tsc --noEmit` (run by scripts/test.sh before jest), so ts-jest only transpiles.
const tsJest = ['ts-jest', { diagnostics: false }];
// ESM-only dependencies (content-disposition@3 via @fastify/swagger-ui, cookie@1 via light-my-request):
// jest's CommonJS runtime
// needs it transpiled (Node itself loads it fine through require(esm)).
const esmDeps = ['content-disposition', 'cookie'];
const esmTransform = {
  [`node_modules/(${esmDeps.join('|')})/.+\\.js$`]: ['ts-jest', { diagnostics: false, tsconfig: { allowJs: true } }],
};
const transformIgnorePatterns = [`/node_modules/(?!(${esmDeps.join('|')})/)`];
/** @type {import('jest').Config} */
module.exports = {
  testTimeout: 120000,
  projects: [
    {
      displayName: 'unit',
      testEnvironment: 'node',
      transform: { '^.+\\.ts$': tsJest, ...esmTransform },
      transformIgnorePatterns,
      testMatch: ['<rootDir>/test/unit/**/*.test.ts'],
    },
    {
      displayName: 'integration',
      testEnvironment: 'node',
      transform: { '^.+\\.ts$': tsJest, ...esmTransform },
      transformIgnorePatterns,
      testMatch: ['<rootDir>/test/integration/**/*.test.ts'],
      // Runs only when an integration test is selected, so `npm run test:unit` needs no servers.
      globalSetup: '<rootDir>/test/harness/global-setup.ts',
      globalTeardown: '<rootDir>/test/harness/global-teardown.ts',
      // Removes the containers earlier files left running (test/harness/between-files.ts).
      setupFilesAfterEnv: ['<rootDir>/test/harness/between-files.ts'],
      slowTestThreshold: 60,
    },
  ],
};
