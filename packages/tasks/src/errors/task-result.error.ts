import { ConveyorError } from './conveyor.error';

/** `TaskHandle.result()` gave up: the job did not finish in time, or it no longer exists. */
export class TaskResultError extends ConveyorError {
  override readonly name = 'TaskResultError';

  constructor(
    readonly jobId: string,
    readonly reason: 'timeout' | 'not-found' | 'closed' | 'not-kept',
    message: string,
  ) {
    super(message);
  }

  /** `result({ timeout })` gave up; the job goes on. */
  static timedOut(jobId: string, taskName: string, timeoutMs: number): TaskResultError {
    return new TaskResultError(
      jobId,
      'timeout',
      `job ${jobId} of task "${taskName}" did not finish within ${timeoutMs} ms; it keeps running`,
    );
  }

  /** The job finished and `forget()` dropped its record. */
  static forgotten(jobId: string, taskName: string): TaskResultError {
    return new TaskResultError(
      jobId,
      'not-found',
      `job ${jobId} of task "${taskName}" finished and was forgotten (forget()): its result is gone`,
    );
  }
}
