import { ConveyorError } from './conveyor.error';

/**
 * The final error of a job, as `TaskHandle.result()` reports it. The handler ran in another
 * process (or another attempt), so the original error object is gone: its name, message and
 * stack are carried here.
 */
export class TaskFailedError extends ConveyorError {
  override readonly name = 'TaskFailedError';

  constructor(
    readonly taskName: string,
    readonly jobId: string,
    /** `name` of the error the handler threw, e.g. `TypeError` or `UnrecoverableTaskError`. */
    readonly errorName: string,
    /** The handler's error message. */
    readonly reason: string,
    readonly attemptsMade: number,
    /** Stack of the handler's error, when Redis still holds it. */
    readonly remoteStack?: string,
  ) {
    super(reason);
  }
}
