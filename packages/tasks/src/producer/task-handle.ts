import { TaskResultError } from '../errors/task-result.error';
import type { Duration } from '../interfaces/duration.interface';
import type { CancelOutcome } from './task-cancellation';

/**
 * Where a job is: BullMQ's state names (`prioritized` is reported as `waiting`), with
 * `dead-lettered` for a job that failed for good, `cancelled`, and `forgotten` for a job that
 * finished and whose record was dropped on purpose: by `handle.forget()`, or at once because
 * its task keeps no results (`resultTtl: 0`, fire-and-forget). `unknown`: no such job (never
 * enqueued, or removed after its `resultTtl`).
 */
export type TaskState =
  | 'waiting'
  | 'delayed'
  | 'active'
  | 'completed'
  | 'dead-lettered'
  /** A workflow step that never ran because a step it depends on failed for good. */
  | 'skipped'
  | 'cancelled'
  | 'forgotten'
  | 'waiting-children'
  | 'unknown';

/** What `forget()` did. */
export type ForgetOutcome =
  /** The job had finished; its record (result or final error) is gone. */
  | 'forgotten'
  /** The job has not finished: nothing was dropped. */
  | 'not-finished'
  | 'not-found';

/** A job's record, as `TaskHandle.info()` reads it. */
export interface TaskInfo<R = unknown> {
  id: string;
  taskName: string;
  queue: string;
  state: TaskState;
  /** Attempts that have run (or are running: the current one counts once it has ended). */
  attemptsMade: number;
  /** Attempts allowed in all. */
  maxAttempts: number;
  enqueuedAt: Date;
  /** When the current or last attempt started. */
  startedAt?: Date;
  /** When the job completed or was dead-lettered. */
  finishedAt?: Date;
  /** The worker of the current or last attempt: its host and process id. */
  worker?: { host: string; pid: number };
  /** The handler's return value, once completed. */
  result?: R;
  /** The error of the last failed attempt (the final one, once dead-lettered). */
  lastError?: { name: string; message: string; stack?: string };
  /** The last value given to `ctx.progress()`. */
  progress?: number | object;
}

/** What a handle needs from the producer; kept narrow so handles stay cheap to create. */
export interface TaskHandleSource {
  stateOf(queue: string, jobId: string): Promise<TaskState>;
  resultOf<R>(queue: string, taskName: string, jobId: string, timeout?: Duration): Promise<R>;
  cancel(queue: string, jobId: string, reason?: string): Promise<CancelOutcome>;
  infoOf<R>(queue: string, taskName: string, jobId: string): Promise<TaskInfo<R> | undefined>;
  forget(queue: string, jobId: string): Promise<ForgetOutcome>;
}

/** A job that has been enqueued: its id, and ways to ask how it went. */
export class TaskHandle<R = unknown> {
  constructor(
    /** The BullMQ job id. */
    readonly id: string,
    readonly taskName: string,
    readonly queue: string,
    private readonly source: TaskHandleSource,
    /** False for a task with `resultTtl: 0`: its jobs are dropped as they complete. */
    readonly keepsResult = true,
  ) {}

  /**
   * Current state of the job; `forgotten` once its record was dropped on purpose (`forget()`,
   * or at completion for a task with `resultTtl: 0`), `unknown` once removed otherwise.
   */
  async state(): Promise<TaskState> {
    const state = await this.source.stateOf(this.queue, this.id);
    return state === 'unknown' && !this.keepsResult ? 'forgotten' : state;
  }

  /**
   * The job's record: state, attempts, when it was enqueued, started and finished, which
   * worker ran it, its result or last error. `undefined` once the job is gone.
   */
  info(): Promise<TaskInfo<R> | undefined> {
    return this.source.infoOf<R>(this.queue, this.taskName, this.id);
  }

  /**
   * Drops the record of a finished job: its result, or its final error (a dead letter goes
   * too). Its state is then `forgotten` (for 7 days). An idempotent task's stored result,
   * which keeps a second delivery from running again, is not touched.
   */
  forget(): Promise<ForgetOutcome> {
    return this.source.forget(this.queue, this.id);
  }

  /**
   * Waits for the job to finish: resolves with the handler's return value, or rejects with a
   * `TaskFailedError` carrying the final error after the last attempt. With `timeout`, gives
   * up with a `TaskResultError` (the job itself goes on). A task with `resultTtl: 0` keeps no
   * result: `TaskResultError` (reason `not-kept`) at once.
   */
  result(options: { timeout?: Duration } = {}): Promise<R> {
    if (!this.keepsResult) {
      return Promise.reject(
        new TaskResultError(
          this.id,
          'not-kept',
          `task "${this.taskName}" keeps no results (resultTtl: 0): its jobs are fire-and-forget; use state() or hooks`,
        ),
      );
    }
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
