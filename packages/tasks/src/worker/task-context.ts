import type { Logger } from '@nestjs/common';
import type { Job } from 'bullmq';
import { RetryTaskError, type RetryTaskOptions } from '../errors/retry-task.error';
import { type LogFields, writeLog } from '../logging/conveyor-logger';

/**
 * A logger whose lines carry the run's `task`, `queue`, `jobId` and `attempt` as fields, and
 * any `fields` a line adds. Where the app's logger shows no fields (Nest 10/11's text
 * ConsoleLogger), the message starts with `job <id>: ` instead.
 */
export interface TaskLogger {
  log(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, stack?: string, fields?: LogFields): void;
  debug(message: string, fields?: LogFields): void;
}

/**
 * What a context reads of its job: a BullMQ `Job`, or the record of a job run inline
 * (`@conveyor/testing`).
 */
export type ContextJob = Pick<Job, 'id' | 'name' | 'attemptsMade' | 'opts' | 'timestamp'> & {
  updateProgress(value: number | object): Promise<void>;
};

/** Where a context's signal comes from: made on first use (most handlers never ask). */
export interface SignalSource {
  readonly signal: AbortSignal;
}

/**
 * What a handler knows about the run it is in: which job, which attempt, a signal that
 * aborts on time limits, cancellation, a lost lock or shutdown, a logger, and progress
 * reporting. The signal and the logger are created when first read, so a handler that uses
 * neither costs nothing for them.
 */
export class TaskContext {
  private logInstance?: TaskLogger;

  constructor(
    private readonly job: ContextJob,
    /** Name of the queue the job came from. */
    readonly queue: string,
    private readonly signalSource: SignalSource,
    private readonly logger: Logger,
    private readonly admittedAtMs?: number,
  ) {}

  /**
   * When admission let this run start, on Redis's clock: the moment a `rateLimit` window
   * counts. `undefined` for a task with no limits and no idempotency (no admission ran).
   */
  get admittedAt(): Date | undefined {
    return this.admittedAtMs === undefined ? undefined : new Date(this.admittedAtMs);
  }

  /**
   * Aborted when the run should stop; `signal.reason` says why: a `TaskTimeoutError`,
   * `TaskCancelledError`, `TaskLockLostError` or the shutdown's reason.
   */
  get signal(): AbortSignal {
    return this.signalSource.signal;
  }

  /** A logger whose lines carry this run's task, queue, job id and attempt; context: `Task <name>`. */
  get log(): TaskLogger {
    if (!this.logInstance) {
      const { logger } = this;
      const prefix = `job ${this.job.id}: `;
      const run: LogFields = {
        task: this.job.name,
        queue: this.queue,
        jobId: this.job.id,
        attempt: this.attempt,
      };
      // The run's own fields win: a handler's `jobId` must not hide which job wrote the line.
      const fieldsOf = (own?: LogFields) => (own ? { ...own, ...run } : run);
      this.logInstance = {
        log: (message, fields) =>
          writeLog(logger, 'log', message, fieldsOf(fields), undefined, prefix),
        warn: (message, fields) =>
          writeLog(logger, 'warn', message, fieldsOf(fields), undefined, prefix),
        error: (message, stack, fields) =>
          writeLog(logger, 'error', message, fieldsOf(fields), stack, prefix),
        debug: (message, fields) =>
          writeLog(logger, 'debug', message, fieldsOf(fields), undefined, prefix),
      };
    }
    return this.logInstance;
  }

  /** The job's id, stable across attempts. */
  get jobId(): string {
    return this.job.id!;
  }

  get taskName(): string {
    return this.job.name;
  }

  /** This attempt's number, from 1. */
  get attempt(): number {
    return this.job.attemptsMade + 1;
  }

  /** Attempts allowed in all. */
  get maxAttempts(): number {
    return this.job.opts.attempts ?? 1;
  }

  /** When the job was enqueued. */
  get enqueuedAt(): Date {
    return new Date(this.job.timestamp);
  }

  /**
   * Ends this run and retries the job after `delay` instead of the backoff (it throws a
   * `RetryTaskError`; `return ctx.retry(...)` or let it propagate). `countAttempt: false`
   * spends no attempt, up to the task's `maxUncountedRetries`.
   *
   * @example
   * if (res.status === 503) ctx.retry({ delay: '30s', cause: new Error('provider busy') });
   */
  retry(options: RetryTaskOptions = {}): never {
    throw new RetryTaskError(options);
  }

  /** Records progress (a percentage or any JSON object), visible to `TaskHandle` readers and dashboards. */
  progress(value: number | Record<string, unknown>): Promise<void> {
    return this.job.updateProgress(value);
  }
}
