import { ConveyorError } from './conveyor.error';

/**
 * The worker thread running a task's job stopped before the handler returned: it crashed
 * (an uncaught error, `process.exit()`, out of memory) or could not boot its module. Only
 * that attempt fails; it is retried per the task's `attempts` on a new thread.
 */
export class TaskThreadError extends ConveyorError {
  override readonly name = 'TaskThreadError';

  constructor(
    readonly taskName: string,
    problem: string,
    options?: { cause?: unknown },
  ) {
    super(`Task "${taskName}": ${problem}`, options);
  }
}
