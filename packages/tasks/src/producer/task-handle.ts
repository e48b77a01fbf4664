import type { Duration } from '../interfaces/duration.interface';
import type { CancelOutcome } from './task-cancellation';

/**
 * Where a job is: BullMQ's state names (`prioritized` is reported as `waiting`), with
 * `dead-lettered` for a job that failed for good and `cancelled`.
 */
export type TaskState =
  | 'waiting'
  | 'delayed'
  | 'active'
  | 'completed'
  | 'dead-lettered'
  | 'cancelled'
  | 'waiting-children'
  | 'unknown';

/** What a handle needs from the producer; kept narrow so handles stay cheap to create. */
export interface TaskHandleSource {
  stateOf(queue: string, jobId: string): Promise<TaskState>;
  resultOf<R>(queue: string, taskName: string, jobId: string, timeout?: Duration): Promise<R>;
  cancel(queue: string, jobId: string, reason?: string): Promise<CancelOutcome>;
}

/** A job that has been enqueued: its id, and ways to ask how it went. */
export class TaskHandle<R = unknown> {
  constructor(
    /** The BullMQ job id. */
    readonly id: string,
    readonly taskName: string,
    readonly queue: string,
    private readonly source: TaskHandleSource,
  ) {}

  /** Current state of the job; `unknown` once it has been removed. */
  state(): Promise<TaskState> {
    return this.source.stateOf(this.queue, this.id);
  }

  /**
   * Waits for the job to finish: resolves with the handler's return value, or rejects with a
   * `TaskFailedError` carrying the final error after the last attempt. With `timeout`, gives
   * up with a `TaskResultError` (the job itself goes on).
   */
  result(options: { timeout?: Duration } = {}): Promise<R> {
    return this.source.resultOf<R>(this.queue, this.taskName, this.id, options.timeout);
  }

  /**
   * Cancels the job from any process: removed if it has not started, its `ctx.signal`
   * aborted if it runs. It is neither retried nor dead-lettered.
   */
  cancel(reason?: string): Promise<CancelOutcome> {
    return this.source.cancel(this.queue, this.id, reason);
  }

  toJSON(): { id: string; taskName: string; queue: string } {
    return { id: this.id, taskName: this.taskName, queue: this.queue };
  }
}
