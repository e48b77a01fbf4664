// Fault-injection suite: each file starts private redis-server / PostgreSQL processes and
// real worker, relay and API child processes, then kills some of them. Files run one at a
// time, and Nx runs this project after e2e:test (project.json), so its child processes
// never take the CPU from e2e tests that measure fairness under load. Typecheck and lint
// run with the e2e project (test/tsconfig.json covers this folder).
module.exports = {
  ...require('../../jest.preset.js'),
  displayName: 'faults',
  rootDir: __dirname,
  testMatch: ['<rootDir>/**/*.fault-spec.ts'],
  // CONVEYOR_SOAK=1 multiplies item counts; give each test room for them.
  testTimeout: process.env.CONVEYOR_SOAK === '1' ? 900_000 : 180_000,
  maxWorkers: 1,
  // Exit once the tests are done, even with a handle open: BullMQ can reconnect a blocking
  // client that a close just ended (taskforcesh/bullmq#4722, fixed upstream for 5.x only),
  // and its retry timers would then keep the run alive until CI's limit. Shutdown itself is
  // bounded and tested; --detectOpenHandles (project.json) still lists what was left open.
  forceExit: true,
};
