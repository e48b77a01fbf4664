// Fault-injection suite: each file starts private redis-server / PostgreSQL processes and
// real worker, relay and API child processes, then kills some of them. Files run one at a
// time so the faults of one never starve another on a small machine. Typecheck and lint run
// with the e2e project (test/tsconfig.json covers this folder).
module.exports = {
  ...require('../../jest.preset.js'),
  displayName: 'faults',
  rootDir: __dirname,
  testMatch: ['<rootDir>/**/*.fault-spec.ts'],
  testTimeout: 180_000,
  maxWorkers: 1,
};
