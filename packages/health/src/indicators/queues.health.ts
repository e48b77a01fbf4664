import { Inject, Injectable } from '@nestjs/common';
import { QueueInspector, type QueueSnapshot, TaskWorkers } from '@conveyor/tasks';
import { HEALTH_OPTIONS } from '../health.constants';
import type { ResolvedHealthOptions } from '../health.options';
import { withTimeout } from '../with-timeout';
import { indicatorCheck, type IndicatorResult } from './indicator-check';

/** What the queues check reports for one queue. */
export interface QueueHealth {
  waiting: number;
  oldestWaitingAgeMs: number;
  /** Why the queue is backed up; absent when it is not. */
  problem?: string;
}

/**
 * Up when every queue's backlog (jobs ready to run, and the age of the oldest) is under its
 * thresholds; reads every queue in one Redis round trip. `workers()` is up while every
 * worker of this process runs.
 */
@Injectable()
export class QueuesHealthIndicator {
  constructor(
    private readonly inspector: QueueInspector,
    private readonly workers: TaskWorkers,
    @Inject(HEALTH_OPTIONS) private readonly options: ResolvedHealthOptions,
  ) {}

  async isHealthy<const K extends string = 'queues'>(
    key: K = 'queues' as K,
  ): Promise<IndicatorResult<K>> {
    const check = indicatorCheck(key);
    let snapshots: QueueSnapshot[];
    try {
      snapshots = await withTimeout(
        this.inspector.snapshot(this.options.queues),
        this.options.timeoutMs,
        'Redis',
      );
    } catch (error) {
      return check.down({ message: (error as Error).message });
    }
    const queues: Record<string, QueueHealth> = {};
    let backedUp = false;
    for (const { queue, waiting, oldestWaitingAgeMs } of snapshots) {
      const limits = this.options.thresholdsOf(queue);
      const problem =
        waiting > limits.waiting
          ? `${waiting} jobs waiting, over the threshold of ${limits.waiting}`
          : oldestWaitingAgeMs > limits.oldestWaitingAgeMs
            ? `oldest job waiting ${oldestWaitingAgeMs} ms, over the threshold of ${limits.oldestWaitingAgeMs} ms`
            : undefined;
      queues[queue] = { waiting, oldestWaitingAgeMs, ...(problem ? { problem } : {}) };
      backedUp ||= problem !== undefined;
    }
    return backedUp ? check.down({ queues }) : check.up({ queues });
  }

  /** Up while every worker of this process runs (up too when the process runs none). */
  workersRunning<const K extends string = 'workers'>(key: K = 'workers' as K): IndicatorResult<K> {
    const check = indicatorCheck(key);
    const queues = this.workers.queues;
    return this.workers.isRunning() ? check.up({ queues }) : check.down({ queues });
  }
}
