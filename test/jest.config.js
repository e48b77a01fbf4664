// End-to-end tests: real Redis (and PostgreSQL where a suite needs it). Each test works under
// its own key prefix, so files run in parallel without seeing each other's jobs.
module.exports = {
  ...require('../jest.preset.js'),
  displayName: 'e2e',
  rootDir: __dirname,
  testMatch: ['<rootDir>/**/*.e2e-spec.ts'],
  testTimeout: 30_000,
  maxWorkers: 2,
  // Exit once the tests are done, even with a handle open: BullMQ can reconnect a blocking
  // client that a close just ended (taskforcesh/bullmq#4722, fixed upstream for 5.x only),
  // and its retry timers would then keep the run alive until CI's limit. Shutdown itself is
  // bounded and tested; --detectOpenHandles (project.json) still lists what was left open.
  forceExit: true,
};
