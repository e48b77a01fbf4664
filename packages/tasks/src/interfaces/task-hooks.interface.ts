/** What a hook learns about one run. */
export interface TaskEvent {
  taskName: string;
  queue: string;
  jobId: string;
  /** Attempt number, from 1. */
  attempt: number;
  payload: unknown;
}

/** What `onFailure` learns about a failed run. */
export interface TaskFailureEvent extends TaskEvent {
  error: Error;
  willRetry: boolean;
  /** The wait before the retry, in ms; absent when no retry follows. */
  retryInMs?: number;
}

/**
 * Callbacks on task outcomes, per task (in `defineTask`/`@Task` options) and for every task
 * (`TasksModule.forRoot({ hooks })`). A hook that throws is logged; it never changes the
 * outcome of the job.
 */
export interface TaskHooks {
  /** After a run succeeded. */
  onSuccess?: (event: TaskEvent & { result: unknown }) => void | Promise<void>;
  /**
   * After each failed attempt, whether or not another follows; `retryInMs` is the wait before
   * the retry (the backoff's, or a `RetryTaskError`'s delay) when one follows.
   */
  onFailure?: (event: TaskFailureEvent) => void | Promise<void>;
  /** When a job lands in its queue's dead-letter store. */
  onDeadLetter?: (event: TaskEvent & { error: Error }) => void | Promise<void>;
}
