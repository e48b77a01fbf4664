import { Injectable, Logger } from '@nestjs/common';
import { type Job, UnrecoverableError, WaitingError } from 'bullmq';
import {
  InvalidPayloadError,
  TaskTimeoutError,
  UnknownTaskError,
  UnrecoverableTaskError,
} from '../errors';
import { checkSchema } from '../payload/validate-payload';
import { type RegisteredTask, TasksRegistry } from '../tasks.registry';
import { stepPayload } from '../workflows/step-input';
import { TaskContext } from './task-context';

/** One run in progress, kept so that shutdown can hand it back to the queue. */
interface InFlightRun {
  job: Job;
  token: string | undefined;
  controller: AbortController;
  handBack: () => void;
}

/** Why a run was stopped from outside: the process is shutting down. */
export class ShutdownAbortReason extends Error {
  override readonly name = 'ShutdownAbortReason';
}

/**
 * Runs one job: finds its handler, checks the payload against the schema, applies the time
 * limits, and turns errors into BullMQ's retry decisions. Every worker of the process shares it.
 */
@Injectable()
export class TaskRunner {
  private readonly logger = new Logger('Conveyor');
  private readonly taskLoggers = new Map<string, Logger>();
  private readonly inFlight = new Set<InFlightRun>();

  constructor(private readonly registry: TasksRegistry) {}

  get inFlightCount(): number {
    return this.inFlight.size;
  }

  async run(job: Job, token?: string, lockSignal?: AbortSignal): Promise<unknown> {
    const task = this.registry.get(job.name);
    if (!task) {
      throw unrecoverable(new UnknownTaskError(job.name, this.registry.names()));
    }

    const controller = new AbortController();
    const onLockLost = () => controller.abort(lockSignal?.reason);
    lockSignal?.addEventListener('abort', onLockLost, { once: true });
    const timers: NodeJS.Timeout[] = [];
    let handBack!: () => void;
    const handedBack = new Promise<never>((_, reject) => {
      handBack = () => reject(new WaitingError());
    });
    const run: InFlightRun = { job, token, controller, handBack };
    this.inFlight.add(run);

    try {
      // A workflow step's payload may be an earlier step's result (see workflows/step-input).
      const input = await stepPayload(job);
      const payload = task.options.schema
        ? await checkSchema(task.name, task.options.schema, input)
        : input;
      const ctx = new TaskContext(
        job,
        task.options.queue,
        controller.signal,
        this.loggerFor(task.name),
      );
      const { timeoutMs, hardTimeoutMs } = task.options;
      if (timeoutMs !== undefined) {
        timers.push(
          setTimeout(
            () => controller.abort(new TaskTimeoutError(task.name, timeoutMs, 'soft')),
            timeoutMs,
          ),
        );
      }
      const racers: Promise<unknown>[] = [
        Promise.resolve().then(() => task.handler(payload, ctx)),
        handedBack,
      ];
      // The handler may lose a race but still settle later; its outcome is then ignored.
      racers[0].catch(() => undefined);
      if (hardTimeoutMs !== undefined) {
        racers.push(
          new Promise<never>((_, reject) =>
            timers.push(
              setTimeout(() => {
                const error = new TaskTimeoutError(task.name, hardTimeoutMs, 'hard');
                controller.abort(error);
                reject(error);
              }, hardTimeoutMs),
            ),
          ),
        );
      }
      return await Promise.race(racers);
    } catch (error) {
      throw this.classify(error, task, job);
    } finally {
      timers.forEach(clearTimeout);
      lockSignal?.removeEventListener('abort', onLockLost);
      this.inFlight.delete(run);
    }
  }

  /**
   * Gives every job still running back to its queue, at the front of the line: shutdown's
   * deadline has passed. Attempts are not spent; the handlers' signals abort.
   */
  async handBackAll(): Promise<number> {
    const runs = [...this.inFlight];
    await Promise.all(
      runs.map(async (run) => {
        run.controller.abort(new ShutdownAbortReason('the worker is shutting down'));
        try {
          await run.job.moveToWait(run.token);
        } catch (error) {
          // Without the move the job stays active; BullMQ's stalled check returns it later.
          this.logger.warn(`could not hand back job ${run.job.id}: ${(error as Error).message}`);
        }
        run.handBack();
      }),
    );
    return runs.length;
  }

  private classify(error: unknown, task: RegisteredTask, job: Job): unknown {
    if (error instanceof WaitingError) return error;
    const err = error instanceof Error ? error : new Error(String(error));
    const attempt = `attempt ${job.attemptsMade + 1}/${job.opts.attempts ?? 1}`;
    const final =
      err instanceof UnrecoverableTaskError ||
      err instanceof InvalidPayloadError ||
      err.name === 'UnrecoverableTaskError' ||
      !this.shouldRetry(task, err);
    const last = final || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    this.loggerFor(task.name).warn(
      `job ${job.id} ${attempt} failed${last ? ' for good' : ', will retry'}: ${err.name}: ${err.message}`,
    );
    return final ? unrecoverable(err) : err;
  }

  private shouldRetry(task: RegisteredTask, error: Error): boolean {
    if (!task.options.retryIf) return true;
    try {
      return task.options.retryIf(error) !== false;
    } catch (predicateError) {
      this.logger.error(
        `retryIf of task ${task.name} threw (${(predicateError as Error).message}); retrying as usual`,
      );
      return true;
    }
  }

  private loggerFor(taskName: string): Logger {
    let logger = this.taskLoggers.get(taskName);
    if (!logger) this.taskLoggers.set(taskName, (logger = new Logger(`Task ${taskName}`)));
    return logger;
  }
}

/** BullMQ's marker for "no more attempts", keeping the original error's name in the stack. */
function unrecoverable(error: Error): UnrecoverableError {
  const marker = new UnrecoverableError(error.message);
  marker.stack = error.stack ?? `${error.name}: ${error.message}`;
  return marker;
}
