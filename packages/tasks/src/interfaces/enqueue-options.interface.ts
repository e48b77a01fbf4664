import type { Duration } from './duration.interface';

/** Options of a single enqueue; they override the task's own for this job. */
export interface EnqueueOptions {
  /**
   * The queue for this job, over the `router`, `routes` and the task's own `queue`. It must be
   * declared in `TasksModule.forRoot({ queues })` and be consumed where the task runs: the
   * task's routed queue, or any declared queue when the app has a `router`.
   */
  queue?: string;
  /** Wait this long before the job may run. */
  delay?: Duration;
  /** Run no earlier than this moment (alternative to `delay`). */
  runAt?: Date;
  /** BullMQ priority for this job: 1 highest … 2 097 152 lowest; 0 none. */
  priority?: number;
  /** Runs in all for this job, counting the first. */
  attempts?: number;
  /**
   * Your own job id. Enqueueing an id that already exists returns the existing job. Must not
   * be a plain integer and must not contain `:`.
   */
  jobId?: string;
  /**
   * A key that makes enqueue idempotent: while a job with this key exists for the task, a
   * second enqueue returns that job's handle instead of creating another.
   */
  idempotencyKey?: string;
}
