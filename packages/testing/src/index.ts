export { ConveyorTestingModule } from './conveyor-testing.module';
export type { ConveyorTestingOptions, TestingMode } from './testing-options';
export { TestTasks, type DrainOptions, type DrainReport } from './test-tasks';
export type { TestFailure, TestJob } from './inline/test-job';
export { createTaskContext, type TestContextOptions } from './create-task-context';
export {
  removePrefix,
  testPrefix,
  waitForDrain,
  waitForState,
  WaitTimeoutError,
  type WaitOptions,
} from './redis/redis-helpers';
