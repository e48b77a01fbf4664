import { ConveyorError } from './conveyor.error';

/** The job was cancelled (`producer.cancel()` / `handle.cancel()`); it is neither retried nor dead-lettered. */
export class TaskCancelledError extends ConveyorError {
  override readonly name = 'TaskCancelledError';

  constructor(
    readonly jobId: string,
    readonly reason: string = 'cancelled',
  ) {
    super(`job ${jobId} was cancelled: ${reason}`);
  }
}
