import { ConveyorError } from './conveyor.error';

/** `unschedule`, `pauseSchedule`, `resumeSchedule` or `triggerSchedule` named a schedule Conveyor does not know. */
export class UnknownScheduleError extends ConveyorError {
  override readonly name = 'UnknownScheduleError';

  constructor(readonly scheduleId: string) {
    super(
      `Unknown schedule "${scheduleId}". List existing ones with TaskProducer.schedules(); ` +
        'schedules declared with @Task(ref, { schedule }) are removed by removing the option.',
    );
  }
}
