import type { Duration } from '../interfaces/duration.interface';

/** Where a job is: BullMQ's state names (`prioritized` is reported as `waiting`). */
export type TaskState =
  'waiting' | 'delayed' | 'active' | 'completed' | 'failed' | 'waiting-children' | 'unknown';

/** What a handle needs from the producer; kept narrow so handles stay cheap to create. */
export interface TaskHandleSource {
  stateOf(queue: string, jobId: string): Promise<TaskState>;
  resultOf<R>(queue: string, taskName: string, jobId: string, timeout?: Duration): Promise<R>;
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

  toJSON(): { id: string; taskName: string; queue: string } {
    return { id: this.id, taskName: this.taskName, queue: this.queue };
  }
}
