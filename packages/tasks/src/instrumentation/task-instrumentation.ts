import { Injectable } from '@nestjs/common';
import type { Job } from 'bullmq';
import type { TaskFailure, TaskObserver } from './task-observer.interface';

/**
 * The seam between task execution and metrics: the producer and the runner report each
 * enqueue, start, success, failure and dead letter here, and observers (`@conveyor/metrics`,
 * or the app's own) receive them. With no observer every call is a loop over an empty array.
 *
 * @example
 * instrumentation.observe({ succeeded: (task, queue, ms) => histogram.observe(ms / 1000) });
 */
@Injectable()
export class TaskInstrumentation {
  private observers: TaskObserver[] = [];

  /** Adds an observer; returns a function that removes it. */
  observe(observer: TaskObserver): () => void {
    this.observers = [...this.observers, observer];
    return () => {
      this.observers = this.observers.filter((o) => o !== observer);
    };
  }

  enqueued(task: string, queue: string, count: number): void {
    for (const o of this.observers) o.enqueued?.(task, queue, count);
  }

  /** The worker took `job` and its handler is about to run. */
  started(job: Job): void {
    if (!this.observers.length) return;
    // Wait is enqueue (or the end of a requested delay) → first start; retries wait on purpose.
    const wait =
      job.attemptsMade === 0 && job.processedOn
        ? Math.max(0, job.processedOn - job.timestamp - (job.opts.delay ?? 0))
        : undefined;
    for (const o of this.observers) o.started?.(job.name, job.queueName, wait);
  }

  succeeded(job: Job): void {
    if (!this.observers.length) return;
    const duration = elapsed(job);
    for (const o of this.observers) o.succeeded?.(job.name, job.queueName, duration);
  }

  failed(job: Job, willRetry: boolean): void {
    if (!this.observers.length) return;
    const duration = elapsed(job);
    const outcome: TaskFailure = willRetry ? 'retried' : 'final';
    for (const o of this.observers) o.failed?.(job.name, job.queueName, duration, outcome);
  }

  deadLettered(job: Job): void {
    for (const o of this.observers) o.deadLettered?.(job.name, job.queueName);
  }
}

function elapsed(job: Job): number {
  return job.processedOn ? Math.max(0, Date.now() - job.processedOn) : 0;
}
