import { type BeforeApplicationShutdown, Injectable } from '@nestjs/common';
import { DelayedError, type Job, UnrecoverableError, WaitingError } from 'bullmq';
import { admissionPlan, type AdmissionPlan } from '../admission/admission-plan';
import type { Lease } from '../admission/lease-keeper';
import { RunAdmission, type RunEnd } from '../admission/run-admission';
import { TaskCancelledError, TaskLockLostError, UnknownTaskError } from '../errors';
import { TaskInstrumentation } from '../instrumentation/task-instrumentation';
import { ConveyorLogger, runFields } from '../logging/conveyor-logger';
import { RunOutcome, unrecoverable } from '../outcome/run-outcome';
import { checkSchema } from '../payload/validate-payload';
import { type RegisteredTask, TasksRegistry } from '../tasks.registry';
import { envelopeOf, stepPayload } from '../workflows/step-input';
import { cancelReasonOf } from '../producer/task-cancellation';
import { TaskThreads } from '../threads/task-threads';
import { InFlightRun } from './in-flight-run';
import { pauseGate, RunControls } from '../control/run-controls';
import { BreakerRuns } from '../breakers/breaker-runs';
import { TaskContext } from './task-context';
import { DurableState } from '../durable/durable-state';

const CANCEL_MEMORY_MS = 60_000;

/** Why a run was stopped from outside: the process is shutting down. */
export class ShutdownAbortReason extends Error {
  override readonly name = 'ShutdownAbortReason';
}

/**
 * Runs one job, in three stages: admission (`admission/`: stored results, slots, rate limits,
 * parking), the run itself (`InFlightRun`: time limits, the signal, hand-back), and the
 * outcome (`outcome/`: result, retry, dead letter). Every worker of the process shares it.
 */
@Injectable()
export class TaskRunner implements BeforeApplicationShutdown {
  private readonly logger = new ConveyorLogger('Conveyor');
  private readonly inFlight = new Map<string, InFlightRun>();
  // Cancels announced before their job reached this worker's runner (the fetch took the job
  // before the flag was set); kept a minute, long enough for that gap.
  private readonly earlyCancels = new Map<string, { reason: string; at: number }>();
  // Once shutdown begins, BullMQ fetches no next job after a run: releases wake blocked workers.
  private stopping = false;
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly registry: TasksRegistry,
    private readonly admission: RunAdmission,
    private readonly outcome: RunOutcome,
    private readonly instrumentation: TaskInstrumentation,
    private readonly controls: RunControls,
    private readonly breakers: BreakerRuns,
    private readonly threads: TaskThreads,
    private readonly durable: DurableState,
  ) {}

  beforeApplicationShutdown(): void {
    this.stopping = true;
  }

  get inFlightCount(): number {
    return this.inFlight.size;
  }

  /** The runs in flight now: the worker registry lists them on its timer, never per job. */
  runs(): IterableIterator<InFlightRun> {
    return this.inFlight.values();
  }

  /** Resolves once no run is in flight in this process (at once if none is). */
  whenIdle(): Promise<void> {
    if (!this.inFlight.size) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Runs one attempt of `job`. This is every job's hot path: what a run does not need (a
   * signal, hook events, timers, admission) is not allocated.
   */
  async run(job: Job, token?: string): Promise<unknown> {
    const task = this.registry.get(job.name);
    if (!task) {
      throw unrecoverable(new UnknownTaskError(job.name, this.registry.names(), job.queueName));
    }

    // A dead letter retried outside Conveyor (bull-board) gets the fresh attempts a replay gives.
    if (retriedByHand(job)) {
      await this.outcome.freshAttemptsIfRetriedByHand(job, task.name);
    }
    const run = new InFlightRun(job, token);
    const runKey = `${job.queueName}\n${job.id}`;
    this.inFlight.set(runKey, run);
    // Cancelled before this delivery: flagged in the job itself (read with it at the fetch),
    // or announced in the moment between its fetch and this call.
    const early = this.earlyCancels.get(runKey);
    if (early) this.earlyCancels.delete(runKey);
    const cancelled = cancelReasonOf(job.opts) ?? early?.reason;
    if (cancelled !== undefined) stopCancelled(run, cancelled);
    let plan: AdmissionPlan | undefined;
    let lease: Lease | undefined;
    let admittedAt: number | undefined;
    let end: RunEnd = { ok: false };
    let probe = false;
    let started = false;
    try {
      // A workflow step's payload may be an earlier step's result (see workflows/step-input).
      const input = envelopeOf(job.data) ? await stepPayload(job) : job.data;
      const payload = task.options.schema
        ? await checkSchema(task.name, task.options.schema, input)
        : input;
      // A cancelled job takes no slot: it ends here.
      run.throwIfInterrupted();
      const delivery = token ?? job.token ?? '';
      // A paused task's job, or one whose circuit breaker is open, waits at its gate.
      if (
        this.controls.isPaused(task.name) &&
        (await this.admission.gate(
          job,
          delivery,
          pauseGate(task.name),
          -1,
          this.controls.version,
        )) !== 'open'
      ) {
        throw new DelayedError();
      }
      if (task.options.circuitBreaker) {
        const pass = await this.breakers.pass(task, job, delivery);
        if (pass === 'parked' || pass === 'lost') throw new DelayedError();
        probe = pass === 'probe';
      }
      const options = this.controls.optionsOf(task);
      const idempotent = options.idempotent || job.id!.startsWith(`${task.name}~`);
      plan = admissionPlan(task.name, options, payload, job.id!, idempotent);
      if (plan) {
        const admission = await this.admission.enter(job, delivery, plan, () =>
          this.leaseLost(run),
        );
        if (admission.kind === 'stored') {
          if (isDurableStep(job)) await this.durable.stepSettled(job, true, admission.result);
          return admission.result;
        }
        // Parked until a slot or the rate window frees up, or no longer ours: BullMQ leaves it.
        if (admission.kind !== 'admitted') throw new DelayedError();
        lease = admission.lease;
        admittedAt = admission.at;
      }
      run.throwIfInterrupted();
      const ctx = new TaskContext(
        job,
        // Where the job was routed, which a router or the call site may have chosen.
        job.queueName,
        run,
        this.outcome.loggerFor(task.name),
        admittedAt,
      );
      this.instrumentation.started(job);
      started = true;
      const result = this.threads.isolated(task, job.queueName)
        ? await this.threads.execute(task, payload, ctx, run)
        : await run.execute(task.name, task.options, () => callHandler(task, payload, ctx));
      end = { ok: true, result };
      if (lease) {
        // Before the result reaches BullMQ: a second delivery must find it stored.
        await this.admission.release(
          lease,
          plan!,
          end,
          task.options.idempotencyTtlMs,
          !this.stopping,
        );
        lease = undefined;
      }
      if (probe) await this.breakers.succeeded(task, job, probe);
      // A durable workflow's step: its result goes in the journal before BullMQ has it.
      if (isDurableStep(job)) await this.durable.stepSettled(job, true, result);
      await this.outcome.succeeded(task, job, result);
      return result;
    } catch (error) {
      if (started && !end.ok && !run.handingBack && task.options.circuitBreaker) {
        await this.breakers.failed(
          task,
          job,
          error,
          `${token ?? job.token}:${job.attemptsStarted}`,
        );
      }
      const marker = await this.outcome.failed(error, task, job, token, run.handingBack);
      if (isDurableStep(job) && isFinal(marker, error, job)) {
        await this.durable.stepSettled(job, false, error);
      }
      throw marker;
    } finally {
      this.inFlight.delete(runKey);
      if (!this.inFlight.size) for (const wake of this.idleWaiters.splice(0)) wake();
      if (lease) await this.releaseWhenStopped(run, lease, plan!, task, end);
    }
  }

  /**
   * Gives a run's slots back once its handler has stopped. A run ended by a hard time limit,
   * a cancel or shutdown may leave its handler running: its slots stay held (and renewed)
   * until it stops, so no second run of a `singleton` or `lock` can overlap it.
   */
  private async releaseWhenStopped(
    run: InFlightRun,
    lease: Lease,
    plan: AdmissionPlan,
    task: RegisteredTask,
    end: RunEnd,
  ): Promise<void> {
    const release = (fetching: boolean) =>
      this.admission
        .release(lease, plan, end, task.options.idempotencyTtlMs, fetching)
        .catch((error: Error) =>
          this.logger.warn(
            `could not release the slots of job ${run.job.id} (they expire with their lease): ${error.message}`,
            runFields(task.name, run.job),
            error,
          ),
        );
    // A failed run's worker fetches its next job as it records the failure.
    if (run.handlerStopped) return release(!run.handingBack && !this.stopping);
    this.logger.warn(
      `job ${run.job.id} ended while its handler still runs; its slots stay held until the handler stops`,
      runFields(task.name, run.job),
    );
    void run.whenHandlerStops().then(() => release(false));
  }

  private leaseLost(run: InFlightRun): void {
    this.instrumentation.leaseLost(run.job);
    run.abort(new TaskLockLostError(run.job.id!, run.job.queueName));
  }

  /**
   * Gives every job still running back to its queue, at the front of the line: shutdown's
   * deadline has passed. Attempts are not spent; the handlers' signals abort.
   */
  async handBackAll(): Promise<number> {
    const runs = [...this.inFlight.values()];
    await Promise.all(
      runs.map(async (run) => {
        // First, so whatever the handler throws when its signal aborts is not a failure.
        run.handingBack = true;
        run.abort(new ShutdownAbortReason('the worker is shutting down'));
        try {
          await run.job.moveToWait(run.token);
        } catch (error) {
          // Without the move the job stays active; BullMQ's stalled check returns it later.
          this.logger.warn(
            `could not hand back job ${run.job.id}: ${(error as Error).message}`,
            runFields(run.job.name, run.job),
            error,
          );
        }
        run.interrupt(new WaitingError());
      }),
    );
    return runs.length;
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
}

/**
 * A job that failed for good and was put back by BullMQ's own `job.retry('failed')` without
 * its reset options (bull-board's retry): its attempts are spent and it carries the stacks of
 * its failures. (A job whose attempts BullMQ counted otherwise, a completed run that lost its
 * lock, has no failure behind it.)
 */
function retriedByHand(job: Job): boolean {
  return job.attemptsMade >= (job.opts.attempts ?? 1) && (job.stacktrace?.length ?? 0) > 0;
}

/** A durable workflow's step or compensation: its job id says so (`dwf~<id>~<seq>`). */
function isDurableStep(job: Job): boolean {
  return job.id?.startsWith('dwf~') === true;
}

/**
 * True when `marker` (what the outcome policy made of a run's error) ends the job for good:
 * BullMQ's unrecoverable marker, the last attempt's error, or a cancel. Not a retry, a
 * parking, nor a hand-back.
 */
function isFinal(marker: unknown, error: unknown, job: Job): boolean {
  if (error instanceof TaskCancelledError) return true;
  if (marker instanceof DelayedError || marker instanceof WaitingError) return false;
  if (marker instanceof UnrecoverableError) return true;
  return job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
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
