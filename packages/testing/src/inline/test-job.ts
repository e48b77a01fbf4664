import type { TaskState } from '@conveyor/tasks';

/** A failed attempt of a job run inline. */
export interface TestFailure {
  /** The attempt's number, from 1. */
  readonly attempt: number;
  readonly error: { readonly name: string; readonly message: string };
  /**
   * The backoff a worker would have waited before the next attempt (the task's `backoff`,
   * jitter included, or a `RetryTaskError`'s delay); `undefined` when this failure was the
   * last. Inline runs do not wait it.
   */
  readonly retryInMs?: number;
  /** `true` for a `RetryTaskError({ countAttempt: false })` retry that spent no attempt. */
  readonly uncounted?: boolean;
}

/** A job as `TestTasks` reports it: what was enqueued, and how its run went. */
export interface TestJob<R = unknown> {
  readonly id: string;
  readonly taskName: string;
  readonly queue: string;
  /** The payload as the handler receives it: through JSON, as Redis stores it. */
  readonly payload: unknown;
  /** Attempts allowed in all. */
  readonly attempts: number;
  /** BullMQ priority (1 runs first; 0 or absent: no priority, before any prioritized job). */
  readonly priority: number;
  /** The delay asked for (`delay` or `runAt`), in ms; inline runs do not wait it. */
  readonly delayMs: number;
  readonly enqueuedAt: Date;
  /** `waiting`/`delayed` until it runs (manual mode), then `completed`, `dead-lettered` or `cancelled`. */
  readonly state: TaskState;
  readonly attemptsMade: number;
  /** The handler's return value, through JSON as Redis stores it. */
  readonly result?: R;
  /** The final error, once dead-lettered. */
  readonly error?: { readonly name: string; readonly message: string; readonly stack?: string };
  /** Every failed attempt, in order. */
  readonly failures: readonly TestFailure[];
  /** The last value given to `ctx.progress()`. */
  readonly progress?: number | object;
  /** When its last attempt started, and when it ended. */
  readonly startedAt?: Date;
  readonly finishedAt?: Date;
  /** The workflow the job is a step of. */
  readonly workflowId?: string;
}
