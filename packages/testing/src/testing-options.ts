import { InvalidModuleOptionsError, type TasksModuleOptions } from '@conveyor/tasks';
import { resolveModuleOptions, type ResolvedModuleOptions } from '@conveyor/tasks/internal';

/** When a job enqueued in a test runs. */
export type TestingMode = 'inline' | 'manual';

/**
 * `TasksModule.forRoot`'s options (checked the same way; `connection` may be left out, as
 * nothing connects), plus `mode`.
 */
export interface ConveyorTestingOptions extends Partial<TasksModuleOptions> {
  /**
   * `inline` (default): `enqueue()` runs the job, retries included, before it resolves, like
   * Celery's eager mode. `manual`: jobs wait until `TestTasks.drain()` runs them, for tests
   * that look at what was enqueued first.
   */
  mode?: TestingMode;
  /** Like `TasksModule`'s: provide `TaskProducer` to every module. @default true */
  isGlobal?: boolean;
}

export interface ResolvedTestingOptions {
  mode: TestingMode;
  isGlobal: boolean;
  tasks: ResolvedModuleOptions;
}

export const TESTING_OPTIONS = Symbol('CONVEYOR_TESTING_OPTIONS');

// Never dialled: the testing module opens no connection. It only satisfies the option check.
const UNUSED_CONNECTION = 'redis://127.0.0.1:6379';

export function resolveTestingOptions(
  options: ConveyorTestingOptions = {},
): ResolvedTestingOptions {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new InvalidModuleOptionsError(
      `ConveyorTestingModule.forRoot() takes an options object, got ${String(options)}`,
    );
  }
  const { mode = 'inline', isGlobal = true, ...tasks } = options;
  if (mode !== 'inline' && mode !== 'manual') {
    throw new InvalidModuleOptionsError(
      `mode must be 'inline' or 'manual', got ${JSON.stringify(mode)}`,
    );
  }
  return {
    mode,
    isGlobal: isGlobal !== false,
    tasks: resolveModuleOptions({ ...tasks, connection: tasks.connection ?? UNUSED_CONNECTION }),
  };
}
