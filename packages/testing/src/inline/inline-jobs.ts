import { hostname } from 'node:os';
import { Inject, Injectable, Logger } from '@nestjs/common';
import {
  type CancelOutcome,
  type Duration,
  type ForgetOutcome,
  RetryTaskError,
  TaskCancelledError,
  TaskContext,
  TaskFailedError,
  type TaskInfo,
  TaskResultError,
  type TaskState,
} from '@conveyor/tasks';
import {
  checkSchema,
  type ContextJob,
  InFlightRun,
  isFinalFailure,
  type RegisteredTask,
  resultTimeoutMs,
  retryDelayOf,
  type TaskHandleSource,
  TaskHooksRunner,
  TasksRegistry,
} from '@conveyor/tasks/internal';
import type { TestFailure, TestJob } from './test-job';
import { type ResolvedTestingOptions, TESTING_OPTIONS } from '../testing-options';

/** What `add()` needs of BullMQ's job options. */
export interface InlineJobOptions {
  jobId?: string;
  attempts?: number;
  priority?: number;
  delay?: number;
}

/** A job held in memory, and the run that is (or was) under way. */
class InlineJob implements TestJob {
  state: TaskState;
  attemptsMade = 0;
  /** `RetryTaskError({ countAttempt: false })` retries taken, as a worker counts them. */
  uncountedRetries = 0;
  result?: unknown;
  error?: { name: string; message: string; stack?: string };
  readonly failures: TestFailure[] = [];
  progress?: number | object;
  /** When its last attempt started, and when it ended. */
  startedAt?: Date;
  finishedAt?: Date;
  /** Why it was cancelled, once it was. */
  cancelReason?: string;
  readonly enqueuedAt = new Date();
  /** The attempt in progress, so a cancel can stop it. */
  running?: InFlightRun<{ id: string }>;
  private settle!: () => void;
  /** Resolves once the job has completed, been dead-lettered or been cancelled. */
  readonly settled = new Promise<void>((resolve) => (this.settle = resolve));

  constructor(
    readonly id: string,
    readonly taskName: string,
    readonly queue: string,
    public payload: unknown,
    readonly attempts: number,
    readonly priority: number,
    readonly delayMs: number,
    /** Order of arrival, for FIFO among equals. */
    readonly sequence: number,
    readonly workflowId?: string,
  ) {
    this.state = delayMs > 0 ? 'delayed' : 'waiting';
  }

  get finished(): boolean {
    return (
      this.state === 'completed' ||
      this.state === 'dead-lettered' ||
      this.state === 'cancelled' ||
      this.state === 'skipped'
    );
  }

  end(state: 'completed' | 'dead-lettered' | 'cancelled' | 'skipped'): void {
    this.state = state;
    this.finishedAt = new Date();
    this.running = undefined;
    this.settle();
  }

  /** A copy a test can keep: later runs do not change it. */
  snapshot(): TestJob {
    return Object.freeze({
      id: this.id,
      taskName: this.taskName,
      queue: this.queue,
      payload: this.payload,
      attempts: this.attempts,
      priority: this.priority,
      delayMs: this.delayMs,
      enqueuedAt: this.enqueuedAt,
      state: this.state,
      attemptsMade: this.attemptsMade,
      result: this.result,
      error: this.error,
      failures: [...this.failures],
      progress: this.progress,
      workflowId: this.workflowId,
      startedAt: this.startedAt,
      finishedAt: this.finishedAt,
    });
  }
}

/**
 * The jobs of a testing module, in memory. A job runs through what a worker's run goes
 * through, minus Redis: the payload and the result pass through JSON, the task's schema parses
 * the payload, its time limits abort `ctx.signal`, a failure is retried or dead-lettered by the
 * same rules (attempts, `UnrecoverableTaskError`, `retryIf`, `RetryTaskError` and its
 * uncounted retries), and the task's and module's hooks are called. What needs Redis is not
 * modelled: run limits (`maxConcurrent`, `rateLimit`, `singleton`, `lock`) and backoff waits
 * (recorded in `failures`, not waited).
 */
@Injectable()
export class InlineJobs implements TaskHandleSource {
  private readonly logger = new Logger('Conveyor');
  private readonly jobs = new Map<string, InlineJob>();
  private readonly lastIds = new Map<string, number>();
  /** Queues paused with `TaskControl.pause()`: their jobs wait, as with BullMQ's pause. */
  private readonly pausedQueues = new Set<string>();
  /** Tasks paused with `TaskControl.pauseTask()`: their jobs wait, as parked on Redis. */
  private readonly pausedTasks = new Set<string>();
  /** Jobs dropped by `forget()`, so their state reads `forgotten`. */
  private readonly forgotten = new Set<string>();
  private sequence = 0;

  constructor(
    private readonly registry: TasksRegistry,
    private readonly hooks: TaskHooksRunner,
    @Inject(TESTING_OPTIONS) private readonly options: ResolvedTestingOptions,
  ) {}

  get mode(): 'inline' | 'manual' {
    return this.options.mode;
  }

  /**
   * Adds a job as BullMQ would: a job id already held (`jobId`, `idempotencyKey`, an
   * `idempotent` task's payload) returns the job that has it, and nothing is added.
   */
  add(
    taskName: string,
    queue: string,
    payload: unknown,
    opts: InlineJobOptions,
    workflow?: { id: string; waitsForChildren: boolean },
  ): { job: TestJob; added: boolean } {
    let id = opts.jobId;
    if (id !== undefined) {
      const held = this.jobs.get(key(queue, id));
      if (held && held.state !== 'cancelled') return { job: held, added: false };
    } else {
      const last = (this.lastIds.get(queue) ?? 0) + 1;
      this.lastIds.set(queue, last);
      id = String(last);
    }
    const job = new InlineJob(
      id,
      taskName,
      queue,
      throughJson(payload),
      opts.attempts ?? 1,
      opts.priority ?? 0,
      opts.delay ?? 0,
      this.sequence++,
      workflow?.id,
    );
    if (workflow?.waitsForChildren) job.state = 'waiting-children';
    this.jobs.set(key(queue, id), job);
    return { job, added: true };
  }

  /** Runs a waiting job now, retries included; resolves once it has ended. */
  async run(testJob: TestJob): Promise<void> {
    const job = this.own(testJob);
    if (job.state !== 'waiting' && job.state !== 'delayed') return;
    const task = this.registry.get(job.taskName);
    // A task another app handles: a worker there would run it; here it stays waiting.
    if (!task) return;
    job.state = 'active';
    while (!job.finished) await this.attempt(task, job);
  }

  /** Runs a workflow step, once the step before it has given it its payload. */
  async runStep(testJob: TestJob, payload: unknown): Promise<TestJob> {
    const job = this.own(testJob);
    // A step cancelled while it waited for the steps before it does not run.
    if (job.finished) return job.snapshot();
    job.payload = throughJson(payload);
    job.state = 'waiting';
    await this.run(job);
    return job.snapshot();
  }

  /** Ends a job Conveyor itself runs in a workflow (a group's collector, a fan-out). */
  settle(
    testJob: TestJob,
    outcome: { value: unknown } | { failed: string } | { skipped: string },
  ): void {
    const job = this.own(testJob);
    if ('value' in outcome) {
      job.result = throughJson(outcome.value);
      job.end('completed');
    } else if ('skipped' in outcome) {
      // A step that never ran because one before it failed: no dead letter, as on Redis.
      job.error = { name: 'UnrecoverableError', message: outcome.skipped };
      job.end('skipped');
    } else {
      job.error = { name: 'Error', message: outcome.failed };
      job.end('dead-lettered');
    }
  }

  pause(queue: string): void {
    this.pausedQueues.add(queue);
  }

  /** Unpauses `queue`; in inline mode, runs the jobs that waited meanwhile, in order. */
  async resume(queue: string): Promise<void> {
    this.pausedQueues.delete(queue);
    if (this.mode !== 'inline') return;
    for (let [next] = this.pending({ queue }); next; [next] = this.pending({ queue })) {
      await this.run(next);
    }
  }

  isPaused(queue: string): boolean {
    return this.pausedQueues.has(queue);
  }

  /** Holds `task`'s jobs, as `TaskControl.pauseTask()` parks them on Redis. */
  pauseTask(task: string): void {
    this.pausedTasks.add(task);
  }

  /** Lets `task`'s jobs run again; in inline mode, runs the ones that waited, in order. */
  async resumeTask(task: string): Promise<void> {
    this.pausedTasks.delete(task);
    if (this.mode !== 'inline') return;
    for (let next = this.nextOf(task); next; next = this.nextOf(task)) await this.run(next);
  }

  isTaskPaused(task: string): boolean {
    return this.pausedTasks.has(task);
  }

  /** Whether a job of `task` in `queue` waits for a resume now. */
  isHeld(queue: string, task: string): boolean {
    return this.pausedQueues.has(queue) || this.pausedTasks.has(task);
  }

  private nextOf(task: string): TestJob | undefined {
    return this.pending().find((job) => job.taskName === task);
  }

  /** Jobs not run yet, in the order a worker would take them; none of a paused queue. */
  pending(filter: { queue?: string; delayed?: boolean } = {}): TestJob[] {
    return [...this.jobs.values()]
      .filter(
        (job) =>
          (job.state === 'waiting' || (filter.delayed !== false && job.state === 'delayed')) &&
          job.workflowId === undefined &&
          !this.isHeld(job.queue, job.taskName) &&
          (filter.queue === undefined || job.queue === filter.queue) &&
          this.registry.get(job.taskName) !== undefined,
      )
      .sort(takeOrder);
  }

  /** Every job, oldest first, as snapshots. */
  all(): TestJob[] {
    return [...this.jobs.values()].sort((a, b) => a.sequence - b.sequence).map((j) => j.snapshot());
  }

  find(queue: string, id: string): TestJob | undefined {
    return this.jobs.get(key(queue, id))?.snapshot();
  }

  /** Forgets every job (ids start again from 1). Runs in progress finish unrecorded. */
  clear(): void {
    this.jobs.clear();
    this.pausedQueues.clear();
    this.pausedTasks.clear();
    this.forgotten.clear();
    this.lastIds.clear();
  }

  /** Removes a finished job, as a dead letter's purge does. */
  remove(queue: string, id: string): boolean {
    return this.jobs.delete(key(queue, id));
  }

  /** Gives a dead-lettered job fresh attempts and runs it again (in manual mode: queues it). */
  async replay(queue: string, id: string): Promise<void> {
    const job = this.jobs.get(key(queue, id));
    if (!job || job.state !== 'dead-lettered') return;
    const again = new InlineJob(
      job.id,
      job.taskName,
      job.queue,
      job.payload,
      job.attempts,
      job.priority,
      0,
      this.sequence++,
      job.workflowId,
    );
    this.jobs.set(key(queue, id), again);
    if (this.mode === 'inline') await this.run(again);
  }

  async stateOf(queue: string, jobId: string): Promise<TaskState> {
    const job = this.jobs.get(key(queue, jobId));
    if (!job) return this.forgotten.has(key(queue, jobId)) ? 'forgotten' : 'unknown';
    // A task that keeps no results (resultTtl: 0) has its job dropped as it completes.
    if (job.state === 'completed' && !this.keepsResult(job.taskName)) return 'unknown';
    return job.state;
  }

  async infoOf<R>(
    queue: string,
    taskName: string,
    jobId: string,
  ): Promise<TaskInfo<R> | undefined> {
    const job = this.jobs.get(key(queue, jobId));
    if (!job || (await this.stateOf(queue, jobId)) === 'unknown') return undefined;
    const info: TaskInfo<R> = {
      id: job.id,
      taskName,
      queue,
      state: job.state,
      attemptsMade: job.attemptsMade,
      maxAttempts: job.attempts,
      enqueuedAt: job.enqueuedAt,
    };
    if (job.startedAt) {
      info.startedAt = job.startedAt;
      info.worker = { host: hostname(), pid: process.pid };
    }
    if (job.finishedAt) info.finishedAt = job.finishedAt;
    if (job.state === 'completed') info.result = job.result as R;
    const last = job.failures.at(-1);
    if (job.error && (job.state === 'dead-lettered' || job.state === 'skipped')) {
      info.lastError = { ...job.error };
    } else if (last) info.lastError = { ...last.error };
    if (job.progress !== undefined) info.progress = job.progress;
    return info;
  }

  async forget(queue: string, jobId: string): Promise<ForgetOutcome> {
    const job = this.jobs.get(key(queue, jobId));
    if (!job) return this.forgotten.has(key(queue, jobId)) ? 'forgotten' : 'not-found';
    if (job.state !== 'completed' && job.state !== 'dead-lettered' && job.state !== 'skipped') {
      return 'not-finished';
    }
    this.jobs.delete(key(queue, jobId));
    this.forgotten.add(key(queue, jobId));
    return 'forgotten';
  }

  /** False for a task with `resultTtl: 0`, whose jobs Redis drops as they complete. */
  keepsResult(taskName: string): boolean {
    return this.registry.get(taskName)?.options.removeOnComplete !== true;
  }

  async resultOf<R>(
    queue: string,
    taskName: string,
    jobId: string,
    timeout?: Duration,
  ): Promise<R> {
    const timeoutMs = resultTimeoutMs(taskName, timeout);
    const job = this.jobs.get(key(queue, jobId));
    if (!job && this.forgotten.has(key(queue, jobId))) {
      throw TaskResultError.forgotten(jobId, taskName);
    }
    if (!job) {
      throw new TaskResultError(
        jobId,
        'not-found',
        `job ${jobId} of task "${taskName}" does not exist in queue '${queue}' (never enqueued, or cleared)`,
      );
    }
    if (!job.finished && !job.workflowId && !this.registry.get(job.taskName)) {
      throw new TaskResultError(
        jobId,
        'closed',
        `job ${jobId} of task "${taskName}" will not run here: no handler of it is in this testing module`,
      );
    }
    if (!job.finished) await settleWithin(job, taskName, timeoutMs);
    return outcomeOf<R>(job);
  }

  async cancel(queue: string, jobId: string, reason = 'cancelled'): Promise<CancelOutcome> {
    const job = this.jobs.get(key(queue, jobId));
    if (!job) return 'not-found';
    if (job.finished) return job.state === 'cancelled' ? 'removed' : 'finished';
    const error = new TaskCancelledError(job.id, reason);
    job.cancelReason = reason;
    if (job.state === 'active' && job.running) {
      job.running.abort(error);
      job.running.interrupt(error);
      return 'signalled';
    }
    job.end('cancelled');
    return 'removed';
  }

  private async attempt(task: RegisteredTask, job: InlineJob): Promise<void> {
    // Cancelled between two attempts (a retry's): the next never starts, as on a worker.
    if (job.cancelReason !== undefined) return job.end('cancelled');
    const attempt = job.attemptsMade + 1;
    const run = new InFlightRun<{ id: string }>({ id: job.id }, undefined);
    job.running = run;
    job.startedAt = new Date();
    const contextJob: ContextJob = {
      id: job.id,
      name: job.taskName,
      attemptsMade: job.attemptsMade,
      opts: { attempts: job.attempts },
      timestamp: job.enqueuedAt.getTime(),
      updateProgress: async (value) => {
        job.progress = throughJson(value) as number | object;
      },
    };
    const event = {
      taskName: task.name,
      queue: job.queue,
      jobId: job.id,
      attempt,
      payload: job.payload,
    };
    try {
      const payload = task.options.schema
        ? await checkSchema(task.name, task.options.schema, job.payload)
        : job.payload;
      const ctx = new TaskContext(contextJob, job.queue, run, new Logger(`Task ${task.name}`));
      // A cancel during the schema check: the handler never starts.
      run.throwIfInterrupted();
      const result = await run.execute(task.name, task.options, () =>
        callHandler(task, payload, ctx),
      );
      job.attemptsMade = attempt;
      job.result = throughJson(result) ?? null;
      // Hooks first, as a worker awaits them before BullMQ finishes the job.
      if (this.hooks.wants(task, 'onSuccess')) {
        await this.hooks.success(task, { ...event, result: job.result });
      }
      job.end('completed');
    } catch (thrown) {
      if (thrown instanceof TaskCancelledError) {
        job.attemptsMade = attempt;
        return job.end('cancelled');
      }
      const error = thrown instanceof Error ? thrown : new Error(String(thrown));
      // As on a worker: an uncounted retry spends no attempt, up to the task's bound.
      const uncounted =
        error instanceof RetryTaskError &&
        !error.countAttempt &&
        job.uncountedRetries++ < task.options.maxUncountedRetries;
      if (!uncounted) job.attemptsMade = attempt;
      const last =
        !uncounted && (isFinalFailure(task, error, this.logger) || attempt >= job.attempts);
      const retryInMs = last ? undefined : retryDelayOf(task, attempt, error, this.logger);
      job.failures.push({
        attempt,
        error: { name: error.name, message: error.message },
        retryInMs,
        ...(uncounted ? { uncounted } : {}),
      });
      if (this.hooks.wants(task, 'onFailure')) {
        await this.hooks.failure(task, {
          ...event,
          error,
          willRetry: !last,
          ...(retryInMs === undefined ? {} : { retryInMs }),
        });
      }
      if (!last) return;
      job.error = { name: error.name, message: error.message, stack: error.stack };
      const dead = {
        id: job.id,
        name: job.taskName,
        queueName: job.queue,
        data: job.payload,
        attemptsMade: attempt,
      };
      await this.hooks.deadLetter(task, dead, error, attempt);
      job.end('dead-lettered');
    }
  }

  private own(job: TestJob): InlineJob {
    const held = this.jobs.get(key(job.queue, job.id));
    if (!held) throw new Error(`job ${job.id} of queue '${job.queue}' is not held here`);
    return held;
  }
}

function key(queue: string, id: string): string {
  return `${queue}\n${id}`;
}

/** BullMQ's order: jobs without priority first, then by priority, then first come. */
function takeOrder(a: TestJob, b: TestJob): number {
  const rank = (job: TestJob) => (job.state === 'delayed' ? 2 : job.priority ? 1 : 0);
  const byRank = rank(a) - rank(b);
  if (byRank) return byRank;
  if (a.state === 'delayed') return a.delayMs - b.delayMs || seq(a) - seq(b);
  return a.priority - b.priority || seq(a) - seq(b);
}

function seq(job: TestJob): number {
  return (job as InlineJob).sequence;
}

/** What Redis would give back: the value written as JSON and read again. */
function throughJson(value: unknown): unknown {
  return value === undefined ? undefined : JSON.parse(JSON.stringify(value));
}

function outcomeOf<R>(job: InlineJob): R {
  if (job.state === 'completed') return job.result as R;
  if (job.state === 'cancelled') throw new TaskCancelledError(job.id, job.cancelReason);
  const { name, message, stack } = job.error!;
  throw new TaskFailedError(job.taskName, job.id, name, message, job.attemptsMade, stack);
}

function settleWithin(job: InlineJob, taskName: string, timeoutMs?: number): Promise<void> {
  if (timeoutMs === undefined) return job.settled;
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(TaskResultError.timedOut(job.id, taskName, timeoutMs)),
      timeoutMs,
    );
  });
  return Promise.race([job.settled, timedOut]).finally(() => clearTimeout(timer));
}

/** Calls the handler; a synchronous throw becomes a rejection like an async one's. */
function callHandler(task: RegisteredTask, payload: unknown, ctx: TaskContext): Promise<unknown> {
  try {
    return Promise.resolve(task.handler(payload, ctx));
  } catch (error) {
    return Promise.reject(error);
  }
}
