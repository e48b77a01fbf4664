import { Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { Job, type QueueEvents } from 'bullmq';
import {
  InvalidTaskOptionsError,
  TaskCancelledError,
  TaskFailedError,
  TaskResultError,
} from '../errors';
import type { Duration } from '../interfaces/duration.interface';
import { parseDuration } from '../options/validation';
import { RedisConnections } from '../redis/redis-connections';
import { ConveyorQueues } from './conveyor-queues';
import { finalError } from './final-error';
import { type CancelOutcome, TaskCancellation } from './task-cancellation';
import type { ForgetOutcome, TaskHandleSource, TaskInfo, TaskState } from './task-handle';

/** How long `forget()` leaves its marker, so `state()` says `forgotten` rather than `unknown`. */
const FORGOTTEN_TTL_SECONDS = 7 * 24 * 3600;

interface Waiter {
  check(): void;
  close(): void;
}

interface Listening {
  waits: number;
  notify: (event: { jobId: string }) => void;
  events: Promise<QueueEvents>;
}

/**
 * Answers `TaskHandle.state()` and `result()`. While results of a queue are awaited, one
 * listener per event on its `QueueEvents` dispatches finish events to the waiting handles,
 * and goes when the last wait ends; each wait also checks the job once right away, so a job
 * that finished before the wait began is not missed.
 */
@Injectable()
export class JobResults implements TaskHandleSource, OnApplicationShutdown {
  private readonly waiters = new Map<string, Set<Waiter>>();
  /** Per queue: the waits in progress, and the listener while there are any. */
  private readonly listening = new Map<string, Listening>();

  constructor(
    private readonly queues: ConveyorQueues,
    private readonly cancellation: TaskCancellation,
    private readonly redis: RedisConnections,
  ) {}

  async stateOf(queue: string, jobId: string): Promise<TaskState> {
    const state = await this.queues.queue(queue).getJobState(jobId);
    if (state === 'prioritized') return 'waiting';
    if (state === 'failed') return 'dead-lettered';
    if (state !== 'unknown') return state as TaskState;
    const { skipped, cancelled, forgotten } = await this.traceOf(queue, jobId);
    if (skipped) return 'skipped';
    if (cancelled !== null) return 'cancelled';
    return forgotten ? 'forgotten' : 'unknown';
  }

  /**
   * What a job outside BullMQ's sets left behind: a skipped workflow step's entry (see
   * `SkippedSteps`; its record is kept), a cancel's reason, a forget's marker.
   */
  private async traceOf(
    queue: string,
    jobId: string,
  ): Promise<{ skipped: boolean; cancelled: string | null; forgotten: boolean }> {
    const [skipped, cancelled, forgotten] = await Promise.all([
      this.redis.client.zscore(`${this.queues.keys.queueKey(queue)}cv:skipped`, jobId),
      this.cancellation.reason(queue, jobId),
      this.redis.client.exists(this.forgottenKey(queue, jobId)),
    ]);
    return { skipped: skipped !== null, cancelled, forgotten: forgotten > 0 };
  }

  async infoOf<R>(
    queue: string,
    taskName: string,
    jobId: string,
  ): Promise<TaskInfo<R> | undefined> {
    // The state first: the record read after it is at least as recent (an `active` job's has
    // its start), so the two never disagree the other way.
    const state = await this.stateOf(queue, jobId);
    const job = await Job.fromId(this.queues.queue(queue), jobId);
    if (!job) return undefined;
    const info: TaskInfo<R> = {
      id: jobId,
      taskName,
      queue,
      state,
      attemptsMade: job.attemptsMade,
      maxAttempts: job.opts.attempts ?? 1,
      enqueuedAt: new Date(job.timestamp),
    };
    if (job.processedOn) info.startedAt = new Date(job.processedOn);
    if (job.finishedOn) info.finishedAt = new Date(job.finishedOn);
    const worker = workerOf(job.processedBy);
    if (worker) info.worker = worker;
    if (state === 'completed') info.result = job.returnvalue as R;
    if (job.failedReason) info.lastError = finalError(job);
    if (job.progress !== undefined && job.progress !== 0) {
      info.progress = job.progress as number | object;
    }
    return info;
  }

  async forget(queue: string, jobId: string): Promise<ForgetOutcome> {
    const state = await this.queues.queue(queue).getJobState(jobId);
    if (state === 'unknown') {
      const forgotten = await this.redis.client.exists(this.forgottenKey(queue, jobId));
      return forgotten ? 'forgotten' : 'not-found';
    }
    if (state !== 'completed' && state !== 'failed') return 'not-finished';
    await this.queues.queue(queue).remove(jobId);
    await this.redis.client.set(this.forgottenKey(queue, jobId), '1', 'EX', FORGOTTEN_TTL_SECONDS);
    return 'forgotten';
  }

  private forgottenKey(queue: string, jobId: string): string {
    return `${this.queues.keys.queueKey(queue)}cv:forgotten:${jobId}`;
  }

  cancel(queue: string, jobId: string, reason?: string): Promise<CancelOutcome> {
    return this.cancellation.cancel(queue, jobId, reason);
  }

  async resultOf<R>(
    queue: string,
    taskName: string,
    jobId: string,
    timeout?: Duration,
  ): Promise<R> {
    const timeoutMs = resultTimeoutMs(taskName, timeout);
    const listening = this.listen(queue);
    try {
      await listening.events;
    } catch (error) {
      this.unlisten(queue);
      throw error;
    }

    return new Promise<R>((resolve, reject) => {
      const key = `${queue}\n${jobId}`;
      let done = false;
      let timer: NodeJS.Timeout | undefined;
      // A fallback in case an event is lost (stream trimmed, connection blip).
      const poll = setInterval(() => waiter.check(), 2_000);
      poll.unref();
      const finish = (settle: () => void) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        clearInterval(poll);
        this.waiters.get(key)?.delete(waiter);
        if (this.waiters.get(key)?.size === 0) this.waiters.delete(key);
        this.unlisten(queue);
        settle();
      };
      const waiter: Waiter = {
        check: () => {
          this.outcome<R>(queue, taskName, jobId).then(
            (outcome) =>
              outcome &&
              finish(() => ('error' in outcome ? reject(outcome.error) : resolve(outcome.value))),
            (error: unknown) => finish(() => reject(error)),
          );
        },
        close: () =>
          finish(() =>
            reject(
              new TaskResultError(
                jobId,
                'closed',
                `stopped waiting for job ${jobId}: the application is shutting down`,
              ),
            ),
          ),
      };
      if (timeoutMs !== undefined) {
        timer = setTimeout(
          () => finish(() => reject(TaskResultError.timedOut(jobId, taskName, timeoutMs))),
          timeoutMs,
        );
      }
      let set = this.waiters.get(key);
      if (!set) this.waiters.set(key, (set = new Set()));
      set.add(waiter);
      waiter.check();
    });
  }

  onApplicationShutdown(): void {
    for (const set of this.waiters.values()) for (const waiter of [...set]) waiter.close();
    this.waiters.clear();
  }

  /** Counts a wait on `queue`; the first one adds the listener. */
  private listen(queue: string): Listening {
    let listening = this.listening.get(queue);
    if (!listening) {
      const notify = ({ jobId }: { jobId: string }) => {
        this.waiters.get(`${queue}\n${jobId}`)?.forEach((waiter) => waiter.check());
      };
      const entry: Listening = (listening = {
        waits: 0,
        notify,
        events: this.queues.queueEvents(queue).then((events) => {
          // The last wait may have ended while the QueueEvents got ready.
          if (this.listening.get(queue) === entry) {
            events.on('completed', notify);
            events.on('failed', notify);
          }
          return events;
        }),
      });
      entry.events.catch(() => undefined);
      this.listening.set(queue, entry);
    }
    listening.waits++;
    return listening;
  }

  /** Ends a wait on `queue`; the last one removes the listener. */
  private unlisten(queue: string): void {
    const listening = this.listening.get(queue);
    if (!listening || --listening.waits > 0) return;
    this.listening.delete(queue);
    void listening.events.then(
      (events) => {
        events.off('completed', listening.notify);
        events.off('failed', listening.notify);
      },
      () => undefined,
    );
  }

  /** The job's outcome if it has finished; `undefined` while it is still on its way. */
  private async outcome<R>(
    queue: string,
    taskName: string,
    jobId: string,
  ): Promise<{ value: R } | { error: Error } | undefined> {
    const bullQueue = this.queues.queue(queue);
    const state = await bullQueue.getJobState(jobId);
    if (state !== 'completed' && state !== 'failed' && state !== 'unknown') return undefined;
    const trace = state === 'unknown' ? await this.traceOf(queue, jobId) : undefined;
    const job = trace && !trace.skipped ? undefined : await Job.fromId(bullQueue, jobId);
    if (!job) {
      const { cancelled, forgotten } = trace ?? (await this.traceOf(queue, jobId));
      if (cancelled !== null) return { error: new TaskCancelledError(jobId, cancelled) };
      if (forgotten) return { error: TaskResultError.forgotten(jobId, taskName) };
      return {
        error: new TaskResultError(
          jobId,
          'not-found',
          `job ${jobId} of task "${taskName}" does not exist in queue '${queue}' (never enqueued, or removed after its resultTtl)`,
        ),
      };
    }
    if (state === 'completed') return { value: job.returnvalue as R };
    const { name, message, stack } = finalError(job);
    return {
      error: new TaskFailedError(taskName, jobId, name, message, job.attemptsMade, stack),
    };
  }
}

/** `host:pid`, the name Conveyor's workers give BullMQ, back into its parts. */
function workerOf(processedBy: string | undefined): { host: string; pid: number } | undefined {
  const match = processedBy ? /^(.*):(\d+)$/.exec(processedBy) : null;
  return match ? { host: match[1], pid: Number(match[2]) } : undefined;
}

/** `result({ timeout })` in ms, checked; `undefined` without one. */
export function resultTimeoutMs(
  taskName: string,
  timeout: Duration | undefined,
): number | undefined {
  if (timeout === undefined) return undefined;
  return parseDuration(timeout, 'result({ timeout })', (problem) => {
    throw new InvalidTaskOptionsError(taskName, problem);
  });
}
