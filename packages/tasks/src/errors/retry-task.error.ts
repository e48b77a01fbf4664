import type { Duration } from '../interfaces/duration.interface';
import { ConveyorError } from './conveyor.error';

/** What `RetryTaskError` (and `ctx.retry()`) asks for. */
export interface RetryTaskOptions {
  /**
   * Wait this long before the next run, in place of the task's `backoff` (e.g. an HTTP
   * `Retry-After`). A value that is not a duration is logged and the backoff used instead.
   * @default the task's backoff
   */
  delay?: Duration;
  /**
   * `false`: the retry spends no attempt, up to the task's `maxUncountedRetries` per job;
   * past that bound it counts like any failure, so a loop cannot retry forever.
   * @default true
   */
  countAttempt?: boolean;
  /** The error that made the handler ask for a retry; it is kept as `cause`. */
  cause?: unknown;
  /** The message of the error. @default 'retry requested' (with the cause's message) */
  message?: string;
}

/**
 * Throw from a handler to retry the job now, after `delay` instead of the task's backoff. It
 * always retries while attempts remain (`retryIf` is not asked); after the last attempt the
 * job is dead-lettered with this error. `ctx.retry(options)` throws it for you.
 *
 * @example
 * if (response.status === 429) {
 *   throw new RetryTaskError({ delay: `${response.headers.get('retry-after')}s`, countAttempt: false });
 * }
 */
export class RetryTaskError extends ConveyorError {
  override readonly name = 'RetryTaskError';
  /** The delay asked for, as given (checked when the retry is scheduled). */
  readonly delay?: Duration;
  /** Whether this retry spends an attempt. */
  readonly countAttempt: boolean;

  constructor(options: RetryTaskOptions = {}) {
    const cause = options.cause;
    const causeMessage = cause instanceof Error ? cause.message : cause && String(cause);
    super(
      options.message ?? (causeMessage ? `retry requested: ${causeMessage}` : 'retry requested'),
      cause === undefined ? undefined : { cause },
    );
    this.delay = options.delay;
    this.countAttempt = options.countAttempt !== false;
  }
}
