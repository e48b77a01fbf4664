import { ConveyorError } from './conveyor.error';

/**
 * The worker could not renew its lock on a running job (Redis was unreachable for longer than
 * the queue's `lockDuration`, or the event loop was blocked): BullMQ will treat the job as
 * stalled and another worker may start it. `ctx.signal` aborts with this error as reason so
 * the handler can stop instead of running twice.
 */
export class TaskLockLostError extends ConveyorError {
  override readonly name = 'TaskLockLostError';

  constructor(
    readonly jobId: string,
    readonly queue: string,
  ) {
    super(`the worker lost its lock on job ${jobId} of queue '${queue}'; it may run elsewhere`);
  }
}
