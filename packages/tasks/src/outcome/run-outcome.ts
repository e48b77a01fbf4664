import { Injectable, Logger } from '@nestjs/common';
import { DelayedError, type Job, UnrecoverableError, WaitingError } from 'bullmq';
import {
  InvalidLimitKeyError,
  InvalidPayloadError,
  TaskCancelledError,
  UnrecoverableTaskError,
} from '../errors';
import type { TaskEvent } from '../interfaces/task-hooks.interface';
import { TaskInstrumentation } from '../instrumentation/task-instrumentation';
import type { RegisteredTask } from '../tasks.registry';
import { TaskHooksRunner } from '../worker/task-hooks-runner';

/**
 * What happens after a run: success is counted and reported to the hooks; a failure becomes
 * BullMQ's retry or, when it is final, a dead letter; a cancel ends the job; a shutdown's
 * hand-back is none of these. Observers and hooks are told, never asked: nothing they do
 * changes the outcome.
 */
@Injectable()
export class RunOutcome {
  private readonly logger = new Logger('Conveyor');
  private readonly taskLoggers = new Map<string, Logger>();

  constructor(
    private readonly hooks: TaskHooksRunner,
    private readonly instrumentation: TaskInstrumentation,
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
      this.loggerFor(task.name).log(`job ${job.id} handed back to queue '${job.queueName}'`);
      return new WaitingError();
    }
    if (error instanceof TaskCancelledError) return this.endCancelled(job, error, token);
    const err = error instanceof Error ? error : new Error(String(error));
    const attempt = job.attemptsMade + 1;
    const attempts = job.opts.attempts ?? 1;
    const final = isFinalFailure(task, err, this.logger);
    const last = final || attempt >= attempts;
    this.loggerFor(task.name).warn(
      `job ${job.id} attempt ${attempt}/${attempts} failed${last ? ', dead-lettered' : ', will retry'}: ${err.name}: ${err.message}`,
    );
    this.instrumentation.failed(job, !last);
    if (this.hooks.wants(task, 'onFailure')) {
      await this.hooks.failure(task, { ...taskEvent(task, job), error: err, willRetry: !last });
    }
    if (last) await this.hooks.deadLetter(task, job, err, attempt);
    return final ? unrecoverable(err) : err;
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
      );
    }
    this.loggerFor(job.name).log(`job ${job.id} cancelled: ${error.reason}`);
    return new DelayedError();
  }

  loggerFor(taskName: string): Logger {
    let logger = this.taskLoggers.get(taskName);
    if (!logger) this.taskLoggers.set(taskName, (logger = new Logger(`Task ${taskName}`)));
    return logger;
  }
}

/**
 * True when a failure must not be retried, whatever attempts are left: the handler said so
 * (`UnrecoverableTaskError`), the payload can never pass (`InvalidPayloadError`,
 * `InvalidLimitKeyError`), or the task's `retryIf` refused it. A `retryIf` that throws is
 * logged and the job retried as usual.
 */
export function isFinalFailure(
  task: Pick<RegisteredTask, 'name' | 'options'>,
  error: Error,
  logger: Pick<Logger, 'error'>,
): boolean {
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
    logger.error(
      `retryIf of task ${task.name} threw (${(predicateError as Error).message}); retrying as usual`,
    );
    return false;
  }
}

/** What the hooks receive about a run. */
function taskEvent(task: RegisteredTask, job: Job): TaskEvent {
  return {
    taskName: task.name,
    queue: task.options.queue,
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
