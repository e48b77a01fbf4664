import { ConveyorError } from './conveyor.error';

/**
 * A task's `lock` or `concurrencyKey` function threw or gave no usable key for a job's
 * payload. Another attempt would fail the same way, so the job is dead-lettered at once.
 */
export class InvalidLimitKeyError extends ConveyorError {
  override readonly name = 'InvalidLimitKeyError';

  constructor(
    readonly taskName: string,
    problem: string,
    options?: { cause?: unknown },
  ) {
    super(`the lock/concurrencyKey function of task ${taskName} ${problem}`, options);
  }
}
