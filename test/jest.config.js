// End-to-end tests: real Redis (and PostgreSQL where a suite needs it). Each test works under
// its own key prefix, so files run in parallel without seeing each other's jobs.
module.exports = {
  ...require('../jest.preset.js'),
  displayName: 'e2e',
  rootDir: __dirname,
  testMatch: ['<rootDir>/**/*.e2e-spec.ts'],
  testTimeout: 30_000,
  maxWorkers: 2,
};
