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
}
