import { ConveyorError } from './conveyor.error';

/**
 * A schedule that cannot run: bad cron expression, unknown time zone, bad interval or id.
 * Raised at startup for `@Task(ref, { schedule })`, and by `TaskProducer.schedule()`.
 */
export class InvalidScheduleError extends ConveyorError {
  override readonly name = 'InvalidScheduleError';

  constructor(
    readonly taskName: string | undefined,
    problem: string,
  ) {
    super(
      taskName
        ? `Invalid schedule for task "${taskName}": ${problem}`
        : `Invalid schedule: ${problem}`,
    );
  }
}
