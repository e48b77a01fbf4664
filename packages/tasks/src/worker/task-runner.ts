import { Inject, Injectable, Logger } from '@nestjs/common';
import { DelayedError, type Job, UnrecoverableError, WaitingError } from 'bullmq';
import {
  InvalidPayloadError,
  TaskCancelledError,
  TaskLockLostError,
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
import { envelopeOf, stepPayload } from '../workflows/step-input';
import { InFlightRun } from './in-flight-run';
import { TaskContext } from './task-context';
import { TaskHooksRunner } from './task-hooks-runner';

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

  /**
   * Runs one attempt of `job`. This is every job's hot path: what a run does not need (a
   * signal, hook events, timers, admission) is not allocated.
   */
  async run(job: Job, token?: string): Promise<unknown> {
    const task = this.registry.get(job.name);
    if (!task) {
      throw unrecoverable(new UnknownTaskError(job.name, this.registry.names()));
    }

    const run = new InFlightRun(job, token);
    const runKey = `${job.queueName}\n${job.id}`;
    this.inFlight.set(runKey, run);
    const early = this.earlyCancels.get(runKey);
    if (early) {
      this.earlyCancels.delete(runKey);
      stopCancelled(run, early.reason);
    }
    const attempt = job.attemptsMade + 1;
    let release: (() => Promise<void>) | undefined;
    let softTimer: NodeJS.Timeout | undefined;
    let hardTimer: NodeJS.Timeout | undefined;

    try {
      // A workflow step's payload may be an earlier step's result (see workflows/step-input).
      const input = envelopeOf(job.data) ? await stepPayload(job) : job.data;
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
      run.throwIfInterrupted();
      const ctx = new TaskContext(job, task.options.queue, run, this.loggerFor(task.name));
      const { timeoutMs, hardTimeoutMs } = task.options;
      if (timeoutMs !== undefined) {
        softTimer = setTimeout(
          () => run.abort(new TaskTimeoutError(task.name, timeoutMs, 'soft')),
          timeoutMs,
        );
      }
      if (hardTimeoutMs !== undefined) {
        hardTimer = setTimeout(() => {
          const error = new TaskTimeoutError(task.name, hardTimeoutMs, 'hard');
          run.abort(error);
          run.interrupt(error);
        }, hardTimeoutMs);
      }
      this.instrumentation.started(job);
      const result = await run.outcome(callHandler(task, payload, ctx));
      if (idempotentJob)
        await this.admission.storeResult(job.id!, result, task.options.idempotencyTtlMs);
      this.instrumentation.succeeded(job);
      if (this.hooks.wants(task, 'onSuccess')) {
        await this.hooks.success(task, { ...taskEvent(task, job, attempt), result });
      }
      return result;
    } catch (error) {
      throw await this.classify(error, task, job, attempt, token);
    } finally {
      if (release) await release().catch(() => undefined);
      clearTimeout(softTimer);
      clearTimeout(hardTimer);
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
        run.abort(new ShutdownAbortReason('the worker is shutting down'));
        try {
          await run.job.moveToWait(run.token);
        } catch (error) {
          // Without the move the job stays active; BullMQ's stalled check returns it later.
          this.logger.warn(`could not hand back job ${run.job.id}: ${(error as Error).message}`);
        }
        run.interrupt(new WaitingError());
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
      stopCancelled(run, reason);
      return true;
    }
    const now = Date.now();
    for (const [k, v] of this.earlyCancels)
      if (now - v.at > CANCEL_MEMORY_MS) this.earlyCancels.delete(k);
    this.earlyCancels.set(key, { reason, at: now });
    return false;
  }

  /**
   * BullMQ could not renew these jobs' locks: they may be taken as stalled and run elsewhere.
   * Their handlers' signals abort with `TaskLockLostError`; each handler decides how to stop.
   */
  lockLost(queue: string, jobIds: string[]): void {
    for (const jobId of jobIds) {
      this.inFlight.get(`${queue}\n${jobId}`)?.abort(new TaskLockLostError(jobId, queue));
    }
  }

  private async classify(
    error: unknown,
    task: RegisteredTask,
    job: Job,
    attempt: number,
    token: string | undefined,
  ): Promise<unknown> {
    if (error instanceof WaitingError || error instanceof DelayedError) return error;
    if (error instanceof TaskCancelledError) return this.endCancelled(job, error, token);
    const err = error instanceof Error ? error : new Error(String(error));
    const attempts = job.opts.attempts ?? 1;
    const final =
      err instanceof UnrecoverableTaskError ||
      err instanceof InvalidPayloadError ||
      err.name === 'UnrecoverableTaskError' ||
      !this.shouldRetry(task, err);
    const last = final || attempt >= attempts;
    this.loggerFor(task.name).warn(
      `job ${job.id} attempt ${attempt}/${attempts} failed${last ? ', dead-lettered' : ', will retry'}: ${err.name}: ${err.message}`,
    );
    this.instrumentation.failed(job, !last);
    if (this.hooks.wants(task, 'onFailure')) {
      await this.hooks.failure(task, {
        ...taskEvent(task, job, attempt),
        error: err,
        willRetry: !last,
      });
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

/** Calls the handler; a synchronous throw becomes a rejection like an async one's. */
function callHandler(task: RegisteredTask, payload: unknown, ctx: TaskContext): Promise<unknown> {
  try {
    return Promise.resolve(task.handler(payload, ctx));
  } catch (error) {
    return Promise.reject(error);
  }
}

/** Cancels a run: its signal aborts and the run ends now, even if the handler goes on. */
function stopCancelled(run: InFlightRun, reason: string): void {
  const error = new TaskCancelledError(run.job.id!, reason);
  run.abort(error);
  run.interrupt(error);
}

/** What the hooks receive about a run. */
function taskEvent(task: RegisteredTask, job: Job, attempt: number): TaskEvent {
  return {
    taskName: task.name,
    queue: task.options.queue,
    jobId: job.id!,
    attempt,
    payload: job.data,
  };
}

/** BullMQ's marker for "no more attempts", keeping the original error's name in the stack. */
function unrecoverable(error: Error): UnrecoverableError {
  const marker = new UnrecoverableError(error.message);
  marker.stack = error.stack ?? `${error.name}: ${error.message}`;
  return marker;
}
