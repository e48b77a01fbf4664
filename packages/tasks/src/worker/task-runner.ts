import { Inject, Injectable, Logger } from '@nestjs/common';
import { DelayedError, type Job, UnrecoverableError, WaitingError } from 'bullmq';
import {
  InvalidPayloadError,
  TaskCancelledError,
  TaskTimeoutError,
  UnknownTaskError,
  UnrecoverableTaskError,
} from '../errors';
import type { TaskEvent } from '../interfaces/task-hooks.interface';
import type { ResolvedModuleOptions } from '../options/module-options';
import { checkSchema } from '../payload/validate-payload';
import { RedisConnections } from '../redis/redis-connections';
import { RESOLVED_TASKS_OPTIONS } from '../tasks.constants';
import { type RegisteredTask, TasksRegistry } from '../tasks.registry';
import { TaskInstrumentation } from '../instrumentation/task-instrumentation';
import { RunAdmission } from './admission';
import { stepPayload } from '../workflows/step-input';
import { TaskContext } from './task-context';
import { TaskHooksRunner } from './task-hooks-runner';

/** One run in progress, kept so that shutdown can hand it back to the queue. */
interface InFlightRun {
  job: Job;
  token: string | undefined;
  controller: AbortController;
  handBack: () => void;
  cancel: (reason: string) => void;
}

const CANCEL_MEMORY_MS = 60_000;

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
  private readonly inFlight = new Map<string, InFlightRun>();
  // Cancellations that arrived before their job reached this worker's runner.
  private readonly earlyCancels = new Map<string, { reason: string; at: number }>();
  private admissionInstance?: RunAdmission;

  constructor(
    private readonly registry: TasksRegistry,
    private readonly hooks: TaskHooksRunner,
    private readonly redis: RedisConnections,
    @Inject(RESOLVED_TASKS_OPTIONS) private readonly options: ResolvedModuleOptions,
    private readonly instrumentation: TaskInstrumentation,
  ) {}

  private get admission(): RunAdmission {
    return (this.admissionInstance ??= new RunAdmission(
      this.redis.workerClient,
      this.options.prefix,
      30_000,
    ));
  }

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
    let cancel!: (reason: string) => void;
    const interrupted = new Promise<never>((_, reject) => {
      handBack = () => reject(new WaitingError());
      cancel = (reason) => {
        const error = new TaskCancelledError(job.id!, reason);
        controller.abort(error);
        reject(error);
      };
    });
    // Raced later; until then a rejection must not count as unhandled.
    interrupted.catch(() => undefined);
    const run: InFlightRun = { job, token, controller, handBack, cancel };
    const runKey = `${job.queueName}\n${job.id}`;
    this.inFlight.set(runKey, run);
    const early = this.earlyCancels.get(runKey);
    if (early) {
      this.earlyCancels.delete(runKey);
      cancel(early.reason);
    }
    let release: (() => Promise<void>) | undefined;
    const event: TaskEvent = {
      taskName: task.name,
      queue: task.options.queue,
      jobId: job.id!,
      attempt: job.attemptsMade + 1,
      payload: job.data,
    };

    try {
      // A workflow step's payload may be an earlier step's result (see workflows/step-input).
      const input = await stepPayload(job);
      const payload = task.options.schema
        ? await checkSchema(task.name, task.options.schema, input)
        : input;
      const idempotentJob = task.options.idempotent || job.id!.startsWith(`${task.name}~`);
      if (RunAdmission.needed(task.options, idempotentJob)) {
        const admission = await this.admission.enter(
          task.name,
          task.options,
          payload,
          job.id!,
          idempotentJob,
        );
        if (admission.kind === 'stored') return admission.result;
        if (admission.kind === 'wait') {
          // Over a limit: wait without failing or spending an attempt. A little jitter keeps
          // the jobs of a busy key from coming back all at once.
          await job.moveToDelayed(
            Date.now() + this.waitFor(job, admission) + Math.floor(Math.random() * 50),
            token,
          );
          throw new DelayedError();
        }
        release = admission.release;
      }
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
      if (controller.signal.reason instanceof TaskCancelledError) throw controller.signal.reason;
      this.instrumentation.started(job);
      const racers: Promise<unknown>[] = [
        Promise.resolve().then(() => task.handler(payload, ctx)),
        interrupted,
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
      const result = await Promise.race(racers);
      if (idempotentJob)
        await this.admission.storeResult(job.id!, result, task.options.idempotencyTtlMs);
      this.instrumentation.succeeded(job);
      await this.hooks.success(task, { ...event, result });
      return result;
    } catch (error) {
      throw await this.classify(error, task, job, event, token);
    } finally {
      await release?.().catch(() => undefined);
      timers.forEach(clearTimeout);
      lockSignal?.removeEventListener('abort', onLockLost);
      this.inFlight.delete(runKey);
    }
  }

  /**
   * Gives every job still running back to its queue, at the front of the line: shutdown's
   * deadline has passed. Attempts are not spent; the handlers' signals abort.
   */
  async handBackAll(): Promise<number> {
    const runs = [...this.inFlight.values()];
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

  /**
   * How long a job over a limit waits. A rate limit says when its next token frees up; a
   * full slot does not (its holder may run for hours), so the job polls, 50 ms at first and
   * doubling with each deferral (BullMQ counts every start, ours included) up to 1.6 s.
   */
  private waitFor(job: Job, admission: { ms: number; why: 'slot' | 'rate' }): number {
    if (admission.why === 'rate') return admission.ms;
    const deferrals = Math.max(0, (job.attemptsStarted ?? 1) - job.attemptsMade - 1);
    return Math.min(admission.ms, 50 * 2 ** Math.min(deferrals, 5));
  }

  /** Aborts a job this process runs (cancel from any process arrives here). */
  cancelRun(queue: string, jobId: string, reason: string): boolean {
    const key = `${queue}\n${jobId}`;
    const run = this.inFlight.get(key);
    if (run) {
      run.cancel(reason);
      return true;
    }
    const now = Date.now();
    for (const [k, v] of this.earlyCancels)
      if (now - v.at > CANCEL_MEMORY_MS) this.earlyCancels.delete(k);
    this.earlyCancels.set(key, { reason, at: now });
    return false;
  }

  private async classify(
    error: unknown,
    task: RegisteredTask,
    job: Job,
    event: TaskEvent,
    token: string | undefined,
  ): Promise<unknown> {
    if (error instanceof WaitingError || error instanceof DelayedError) return error;
    if (error instanceof TaskCancelledError) return this.endCancelled(job, error, token);
    const err = error instanceof Error ? error : new Error(String(error));
    const attempt = `attempt ${job.attemptsMade + 1}/${job.opts.attempts ?? 1}`;
    const final =
      err instanceof UnrecoverableTaskError ||
      err instanceof InvalidPayloadError ||
      err.name === 'UnrecoverableTaskError' ||
      !this.shouldRetry(task, err);
    const last = final || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    this.loggerFor(task.name).warn(
      `job ${job.id} ${attempt} failed${last ? ', dead-lettered' : ', will retry'}: ${err.name}: ${err.message}`,
    );
    this.instrumentation.failed(job, !last);
    await this.hooks.failure(task, { ...event, error: err, willRetry: !last });
    if (last) await this.hooks.deadLetter(task, job, err, event.attempt);
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
