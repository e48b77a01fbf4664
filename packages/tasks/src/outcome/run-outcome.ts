import { Injectable, Logger } from '@nestjs/common';
import { DelayedError, type Job, UnrecoverableError, WaitingError } from 'bullmq';
import {
  InvalidLimitKeyError,
  InvalidPayloadError,
  RetryTaskError,
  TaskCancelledError,
  UnrecoverableTaskError,
} from '../errors';
import type { TaskEvent } from '../interfaces/task-hooks.interface';
import { TaskInstrumentation } from '../instrumentation/task-instrumentation';
import {
  ConveyorLogger,
  errorField,
  type LogFields,
  runFields,
  writeLog,
} from '../logging/conveyor-logger';
import { RedisConnections } from '../redis/redis-connections';
import type { RegisteredTask } from '../tasks.registry';
import { retryDelayOf } from '../worker/backoff';
import { TaskHooksRunner } from '../worker/task-hooks-runner';
import { WorkflowFailures } from '../workflows/workflow-failures';

/**
 * What happens after a run: success is counted and reported to the hooks; a failure becomes
 * BullMQ's retry or, when it is final, a dead letter; a cancel ends the job; a shutdown's
 * hand-back is none of these. Observers and hooks are told, never asked: nothing they do
 * changes the outcome.
 */
@Injectable()
export class RunOutcome {
  private readonly logger = new ConveyorLogger('Conveyor');
  private readonly taskLoggers = new Map<string, Logger>();
  // The delay before the retry that a failure's log line announces, until BullMQ asks for it.
  private readonly retryDelays = new WeakMap<Job, number>();

  constructor(
    private readonly hooks: TaskHooksRunner,
    private readonly instrumentation: TaskInstrumentation,
    private readonly redis: RedisConnections,
    private readonly workflowFailures: WorkflowFailures,
  ) {}

  async succeeded(task: RegisteredTask, job: Job, result: unknown): Promise<void> {
    this.instrumentation.succeeded(job);
    if (this.hooks.wants(task, 'onSuccess')) {
      await this.hooks.success(task, { ...taskEvent(task, job), result });
    }
  }

  /**
   * Turns what a run threw into what BullMQ should do with the job: the error to retry with,
   * `UnrecoverableError` for a final failure, or BullMQ's markers for a job moved elsewhere.
   */
  async failed(
    error: unknown,
    task: RegisteredTask,
    job: Job,
    token: string | undefined,
    handedBack: boolean,
  ): Promise<unknown> {
    if (error instanceof WaitingError || error instanceof DelayedError) return error;
    if (handedBack) {
      // Shutdown gave the job back to its queue; whatever the handler threw on its way out
      // (usually the signal's reason) is not a failure of the job.
      writeLog(
        this.loggerFor(task.name),
        'log',
        `job ${job.id} handed back to queue '${job.queueName}'`,
        { ...runFields(task.name, job), durationMs: runningFor(job) },
      );
      return new WaitingError();
    }
    if (error instanceof TaskCancelledError) return this.endCancelled(job, error, token);
    const err = error instanceof Error ? error : new Error(String(error));
    let uncountedSpent = false;
    if (err instanceof RetryTaskError && !err.countAttempt) {
      const delayed = await this.retryUncounted(task, job, err, token);
      if (delayed) return delayed;
      uncountedSpent = true;
    }
    const logger = this.loggerFor(task.name);
    const attempt = job.attemptsMade + 1;
    const attempts = job.opts.attempts ?? 1;
    const final = isFinalFailure(task, err, logger);
    const last = final || attempt >= attempts;
    const fields: LogFields = {
      ...runFields(task.name, job),
      maxAttempts: attempts,
      durationMs: runningFor(job),
      willRetry: !last,
    };
    let retryInMs: number | undefined;
    if (!last) {
      // Drawn now (the jitter is random) so the line can say it; the worker's backoff reads it.
      retryInMs = retryDelayOf(task, attempt, err, logger);
      this.retryDelays.set(job, retryInMs);
      fields.retryInMs = retryInMs;
    }
    if (uncountedSpent) fields.uncountedRetries = task.options.maxUncountedRetries;
    fields.error = errorField(err);
    writeLog(
      logger,
      'warn',
      `job ${job.id} attempt ${attempt}/${attempts} failed${last ? ', dead-lettered' : ', will retry'}: ${err.name}: ${err.message}` +
        (uncountedSpent
          ? ` (counted: the job has used its ${task.options.maxUncountedRetries} uncounted retries, maxUncountedRetries)`
          : ''),
      fields,
    );
    this.instrumentation.failed(job, !last, err);
    if (this.hooks.wants(task, 'onFailure')) {
      await this.hooks.failure(task, {
        ...taskEvent(task, job),
        error: err,
        willRetry: !last,
        ...(retryInMs === undefined ? {} : { retryInMs }),
      });
    }
    if (last) {
      await this.hooks.deadLetter(task, job, err, attempt);
      await this.workflowFailures.stepFailed(job, err);
    }
    return final ? unrecoverable(err) : err;
  }

  /**
   * A dead letter retried outside Conveyor (bull-board's retry button, BullMQ's
   * `job.retry('failed')` without its reset options) comes back with its attempts spent, and
   * would run as "attempt 3/2" with no retry left. It gets fresh attempts and fresh uncounted
   * retries instead, as `DeadLetters.replay()` gives, in its own hash first (one command, only
   * for such a job: the runner tells it by its spent attempts and its failures' stacks).
   */
  async freshAttemptsIfRetriedByHand(job: Job, taskName: string): Promise<void> {
    const attempts = job.opts.attempts ?? 1;
    await this.redis.workerClient.eval(
      RESET_ATTEMPTS,
      1,
      `${job.queueQualifiedName}:${job.id}`,
      UNCOUNTED_FIELD,
    );
    writeLog(
      this.loggerFor(taskName),
      'warn',
      `job ${job.id} was retried with its ${job.attemptsMade} attempt(s) spent (a retry outside Conveyor, e.g. bull-board's); it runs with fresh attempts, as DeadLetters.replay() gives`,
      { ...runFields(taskName, job), attemptsMade: job.attemptsMade, maxAttempts: attempts },
    );
    job.attemptsMade = 0;
    job.attemptsStarted = 1;
  }

  /**
   * A `RetryTaskError({ countAttempt: false })`: the job goes back to the delayed set without
   * spending an attempt (BullMQ's `moveToDelayed`, as parking does), while the job has
   * uncounted retries left. Their count lives in the job's own hash, so it holds across
   * workers and goes with the job. `undefined`: this retry must count (the bound is reached,
   * or Redis refused the move), and takes the normal failure path.
   */
  private async retryUncounted(
    task: RegisteredTask,
    job: Job,
    err: RetryTaskError,
    token: string | undefined,
  ): Promise<DelayedError | undefined> {
    const logger = this.loggerFor(task.name);
    const bound = task.options.maxUncountedRetries;
    if (bound === 0) return undefined;
    let used: number;
    let retryInMs: number;
    try {
      // Counted only on a job hash that still exists: a job removed meanwhile (a cancel)
      // must not leave a stray hash behind. -1: gone, so this retry takes the normal path.
      used = (await this.redis.workerClient.eval(
        COUNT_UNCOUNTED,
        1,
        `${job.queueQualifiedName}:${job.id}`,
        UNCOUNTED_FIELD,
      )) as number;
      if (used < 0 || used > bound) return undefined;
      retryInMs = retryDelayOf(task, job.attemptsMade + 1, err, logger);
      await job.moveToDelayed(Date.now() + retryInMs, token);
    } catch (moveError) {
      this.logger.warn(
        `job ${job.id}: could not delay its uncounted retry (${(moveError as Error).message}); the retry counts as an attempt`,
        runFields(task.name, job),
        moveError,
      );
      return undefined;
    }
    writeLog(
      logger,
      'warn',
      `job ${job.id} attempt ${job.attemptsMade + 1}/${job.opts.attempts ?? 1} asked for a retry, not counted (${used}/${bound}): ${err.message}`,
      {
        ...runFields(task.name, job),
        maxAttempts: job.opts.attempts ?? 1,
        durationMs: runningFor(job),
        willRetry: true,
        retryInMs,
        countAttempt: false,
        uncountedRetries: used,
        error: errorField(err),
      },
    );
    this.instrumentation.failed(job, true, err);
    if (this.hooks.wants(task, 'onFailure')) {
      await this.hooks.failure(task, {
        ...taskEvent(task, job),
        error: err,
        willRetry: true,
        retryInMs,
      });
    }
    return new DelayedError();
  }

  /**
   * Ends a cancelled run: out of the active list (parked far in the future, which needs only
   * our lock), then removed. BullMQ then leaves it alone: it sees a "delayed" job.
   */
  private async endCancelled(
    job: Job,
    error: TaskCancelledError,
    token: string | undefined,
  ): Promise<DelayedError> {
    try {
      await job.moveToDelayed(Date.now() + 365 * 86_400_000, token);
      await job.remove();
    } catch (removeError) {
      this.logger.warn(
        `cancelled job ${job.id} could not be removed: ${(removeError as Error).message}`,
        runFields(job.name, job),
        removeError,
      );
    }
    writeLog(this.loggerFor(job.name), 'log', `job ${job.id} cancelled: ${error.reason}`, {
      ...runFields(job.name, job),
      durationMs: runningFor(job),
      reason: error.reason,
    });
    return new DelayedError();
  }

  /**
   * The delay before the retry of `job` after failed attempt `attemptsMade`: the one its
   * failure's log line announced, or, for a failure that did not pass through a run, a new one.
   */
  retryDelay(task: RegisteredTask, job: Job, attemptsMade: number, error?: Error): number {
    const planned = this.retryDelays.get(job);
    if (planned === undefined) {
      return retryDelayOf(task, attemptsMade, error, this.loggerFor(task.name));
    }
    this.retryDelays.delete(job);
    return planned;
  }

  /** The Nest logger of a task's lines (context `Task <name>`), made once per task. */
  loggerFor(taskName: string): Logger {
    let logger = this.taskLoggers.get(taskName);
    if (!logger) this.taskLoggers.set(taskName, (logger = new Logger(`Task ${taskName}`)));
    return logger;
  }
}

/** The field of a job's hash that counts its uncounted retries (BullMQ ignores it). */
export const UNCOUNTED_FIELD = 'cvUncounted';

/** Fresh attempts for a job retried by hand: BullMQ's own counters, and Conveyor's. */
const RESET_ATTEMPTS = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'atm', 0, 'ats', 1)
redis.call('HDEL', KEYS[1], ARGV[1])
return 1
`;

/** Adds one to a job's uncounted retries, if the job still exists; -1 if it does not. */
const COUNT_UNCOUNTED = `
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
return redis.call('HINCRBY', KEYS[1], ARGV[1], 1)`;

/**
 * True when a failure must not be retried, whatever attempts are left: the handler said so
 * (`UnrecoverableTaskError`), the payload can never pass (`InvalidPayloadError`,
 * `InvalidLimitKeyError`), or the task's `retryIf` refused it. A `retryIf` that throws is
 * logged and the job retried as usual. A `RetryTaskError` is never final: the handler asked
 * for the retry, so `retryIf` is not asked.
 */
export function isFinalFailure(
  task: Pick<RegisteredTask, 'name' | 'options'>,
  error: Error,
  logger: Pick<Logger, 'error'>,
): boolean {
  if (error instanceof RetryTaskError || error.name === 'RetryTaskError') return false;
  if (
    error instanceof UnrecoverableTaskError ||
    error instanceof InvalidPayloadError ||
    error instanceof InvalidLimitKeyError ||
    error.name === 'UnrecoverableTaskError'
  ) {
    return true;
  }
  if (!task.options.retryIf) return false;
  try {
    return task.options.retryIf(error) === false;
  } catch (predicateError) {
    writeLog(
      logger,
      'error',
      `retryIf of task ${task.name} threw (${(predicateError as Error).message}); retrying as usual`,
      { task: task.name, error: errorField(predicateError) },
      (predicateError as Error)?.stack,
    );
    return false;
  }
}

/** How long this attempt has run, from BullMQ's start of it. */
function runningFor(job: Job): number {
  return job.processedOn ? Math.max(0, Date.now() - job.processedOn) : 0;
}

/** What the hooks receive about a run. */
function taskEvent(task: RegisteredTask, job: Job): TaskEvent {
  return {
    taskName: task.name,
    queue: job.queueName,
    jobId: job.id!,
    attempt: job.attemptsMade + 1,
    payload: job.data,
  };
}

/** BullMQ's marker for "no more attempts", keeping the original error's name in the stack. */
export function unrecoverable(error: Error): UnrecoverableError {
  const marker = new UnrecoverableError(error.message);
  marker.stack = error.stack ?? `${error.name}: ${error.message}`;
  return marker;
}
