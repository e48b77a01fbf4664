import { Injectable } from '@nestjs/common';
import type { Job, JobsOptions } from 'bullmq';
import { failSpan, startSendSpan } from './task-tracing';
import type { TaskFailure, TaskObserver } from './task-observer.interface';
import { ConveyorLogger } from '../logging/conveyor-logger';

/**
 * The seam between task execution and metrics: the producer and the runner report each
 * enqueue, start, success, failure and dead letter here, and observers (`@conveyor/metrics`,
 * or the app's own) receive them. With no observer every call is a loop over an empty array.
 * Each observer call is guarded: one that throws is logged (at most once every 10 s, with a
 * count of the others) and the job goes on as if it had not been observed.
 *
 * @example
 * instrumentation.observe({ succeeded: (task, queue, ms) => histogram.observe(ms / 1000) });
 */
@Injectable()
export class TaskInstrumentation {
  private readonly logger = new ConveyorLogger('Conveyor');
  private observers: TaskObserver[] = [];
  private lastErrorLog = 0;
  private unloggedErrors = 0;

  /** Adds an observer; returns a function that removes it. */
  observe(observer: TaskObserver): () => void {
    this.observers = [...this.observers, observer];
    return () => {
      this.observers = this.observers.filter((o) => o !== observer);
    };
  }

  /**
   * Opens an enqueue: starts its producer span (storing the trace context in `opts`) and
   * returns what closes it once Redis answered: `done(added)` or `failed(error)`. `queue` is
   * where the job was routed, which may not be the task's own.
   */
  sending(
    task: { name: string; options: { queue: string } },
    opts: JobsOptions,
    queue = task.options.queue,
  ): Sending {
    const span = startSendSpan(task.name, queue, opts);
    if (!span && !this.observers.length) return PASS_THROUGH;
    return {
      done: (added: unknown): void => {
        span?.end();
        this.enqueued(task.name, queue, Array.isArray(added) ? added.length : 1);
      },
      failed: (error: unknown): void => {
        if (span) {
          failSpan(span, error);
          span.end();
        }
      },
    };
  }

  enqueued(task: string, queue: string, count: number): void {
    for (const o of this.observers) {
      try {
        o.enqueued?.(task, queue, count);
      } catch (error) {
        this.observerThrew('enqueued', error);
      }
    }
  }

  /** The worker took `job` and its handler is about to run. */
  started(job: Job): void {
    if (!this.observers.length) return;
    // Wait is enqueue (or the end of a requested delay) → first start; retries wait on purpose.
    const wait =
      job.attemptsMade === 0 && job.processedOn
        ? Math.max(0, job.processedOn - job.timestamp - (job.opts.delay ?? 0))
        : undefined;
    for (const o of this.observers) {
      try {
        o.started?.(job.name, job.queueName, wait);
      } catch (error) {
        this.observerThrew('started', error);
      }
    }
  }

  succeeded(job: Job): void {
    if (!this.observers.length) return;
    const duration = elapsed(job);
    for (const o of this.observers) {
      try {
        o.succeeded?.(job.name, job.queueName, duration);
      } catch (error) {
        this.observerThrew('succeeded', error);
      }
    }
  }

  failed(job: Job, willRetry: boolean, error?: unknown): void {
    if (!this.observers.length) return;
    const duration = elapsed(job);
    const outcome: TaskFailure = willRetry ? 'retried' : 'final';
    for (const o of this.observers) {
      try {
        o.failed?.(job.name, job.queueName, duration, outcome, error, job.id);
      } catch (error) {
        this.observerThrew('failed', error);
      }
    }
  }

  /** A run lost its slot lease (see `leaseDuration`): another run may overlap it. */
  leaseLost(job: Job): void {
    for (const o of this.observers) {
      try {
        o.leaseLost?.(job.name, job.queueName);
      } catch (error) {
        this.observerThrew('leaseLost', error);
      }
    }
  }

  deadLettered(job: Pick<Job, 'name' | 'queueName'>): void {
    for (const o of this.observers) {
      try {
        o.deadLettered?.(job.name, job.queueName);
      } catch (error) {
        this.observerThrew('deadLettered', error);
      }
    }
  }

  /**
   * Observers are metrics and tracing code: a bug there must never fail a job that succeeded.
   * Written out in each loop above rather than through a callback, so that an observed job
   * costs no closure. A broken observer throws on every job, so it is logged at most once
   * every 10 s, with the count of errors since the last line.
   */
  private observerThrew(event: keyof TaskObserver, error: unknown): void {
    const now = Date.now();
    if (now - this.lastErrorLog < 10_000) {
      this.unloggedErrors++;
      return;
    }
    const more = this.unloggedErrors
      ? ` (and ${this.unloggedErrors} more since the last report)`
      : '';
    const skipped = this.unloggedErrors;
    this.lastErrorLog = now;
    this.unloggedErrors = 0;
    this.logger.error(
      `a task observer threw in ${event}, ignored: ${(error as Error)?.message ?? String(error)}${more}`,
      { observerEvent: event, unreported: skipped },
      error,
    );
  }
}

/** The end of an enqueue: `done` with the added job (or jobs), or `failed` with the error. */
export interface Sending {
  done(added: unknown): void;
  failed(error: unknown): void;
}

// Without an SDK and without observers, an enqueue costs no allocation here.
const PASS_THROUGH: Sending = { done: () => undefined, failed: () => undefined };

function elapsed(job: Job): number {
  return job.processedOn ? Math.max(0, Date.now() - job.processedOn) : 0;
}
