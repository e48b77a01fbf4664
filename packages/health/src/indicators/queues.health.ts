import { Inject, Injectable } from '@nestjs/common';
import {
  QueueInspector,
  type QueueSnapshot,
  type WorkerInfo,
  Workers,
  TaskWorkers,
} from '@conveyor/tasks';
import { TasksRegistry } from '@conveyor/tasks/internal';
import { HEALTH_OPTIONS } from '../health.constants';
import type { ResolvedHealthOptions } from '../health.options';
import { withTimeout } from '../with-timeout';
import { indicatorCheck, type IndicatorResult } from './indicator-check';

/** What the queues check reports for one queue. */
export interface QueueHealth {
  waiting: number;
  oldestWaitingAgeMs: number;
  /** Live worker processes that consume it (any host, from the worker registry). */
  workers: number;
  /** Why the queue is backed up; absent when it is not. */
  problem?: string;
}

/**
 * Up when every queue's backlog (jobs ready to run, and the age of the oldest) is under its
 * thresholds and, for the queues `requireWorkers` names, some live worker process consumes a
 * queue that has jobs waiting; reads every queue in one Redis round trip and the worker
 * registry in one more, side by side. `workersRunning()` is up while every worker of this
 * process runs.
 */
@Injectable()
export class QueuesHealthIndicator {
  constructor(
    private readonly inspector: QueueInspector,
    private readonly workers: TaskWorkers,
    @Inject(HEALTH_OPTIONS) private readonly options: ResolvedHealthOptions,
    private readonly registry: Workers,
    private readonly tasks: TasksRegistry,
  ) {}

  async isHealthy<const K extends string = 'queues'>(
    key: K = 'queues' as K,
  ): Promise<IndicatorResult<K>> {
    const check = indicatorCheck(key);
    let snapshots: QueueSnapshot[];
    let live: WorkerInfo[];
    try {
      [snapshots, live] = await withTimeout(
        Promise.all([this.inspector.snapshot(this.options.queues), this.registry.list()]),
        this.options.timeoutMs,
        'Redis',
      );
    } catch (error) {
      return check.down({ message: (error as Error).message });
    }
    const consumers = new Map<string, number>();
    for (const worker of live) {
      // One that is shutting down takes no new job: it does not count.
      if (worker.stopping) continue;
      for (const { name } of worker.queues) consumers.set(name, (consumers.get(name) ?? 0) + 1);
    }
    const queues: Record<string, QueueHealth> = {};
    let backedUp = false;
    for (const { queue, waiting, oldestWaitingAgeMs } of snapshots) {
      const limits = this.options.thresholdsOf(queue);
      const workers = consumers.get(queue) ?? 0;
      const problem =
        waiting > limits.waiting
          ? `${waiting} jobs waiting, over the threshold of ${limits.waiting}`
          : oldestWaitingAgeMs > limits.oldestWaitingAgeMs
            ? `oldest job waiting ${oldestWaitingAgeMs} ms, over the threshold of ${limits.oldestWaitingAgeMs} ms`
            : waiting > 0 && workers === 0 && this.needsWorkers(queue)
              ? `${waiting} jobs waiting and no live worker process consumes the queue`
              : undefined;
      queues[queue] = { waiting, oldestWaitingAgeMs, workers, ...(problem ? { problem } : {}) };
      backedUp ||= problem !== undefined;
    }
    return backedUp ? check.down({ queues }) : check.up({ queues });
  }

  private needsWorkers(queue: string): boolean {
    const required = this.options.requireWorkers;
    if (typeof required === 'boolean') return required && this.tasks.handledQueues().has(queue);
    return required.has(queue);
  }

  /** Up while every worker of this process runs (up too when the process runs none). */
  workersRunning<const K extends string = 'workers'>(key: K = 'workers' as K): IndicatorResult<K> {
    const check = indicatorCheck(key);
    const queues = this.workers.queues;
    return this.workers.isRunning() ? check.up({ queues }) : check.down({ queues });
  }
}
