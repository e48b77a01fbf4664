import { join } from 'node:path';
import { Inject, Injectable } from '@nestjs/common';
import type { Job } from 'bullmq';
import { ConveyorLogger, errorField } from '../logging/conveyor-logger';
import type { ResolvedModuleOptions } from '../options/module-options';
import { defineScripts } from '../redis/lua-scripts';
import { RedisConnections } from '../redis/redis-connections';
import { RESOLVED_TASKS_OPTIONS } from '../tasks.constants';

/** BullMQ's deferred failure of a parent whose child failed: `child <job key> failed`. */
const CHILD_FAILED = /^child .+ failed$/;

/** How long a skipped step is kept for `handle.steps()` and `state()`: 7 days. */
export const SKIPPED_TTL_MS = 7 * 86_400_000;

/**
 * Workflow steps that never ran because a step they depend on failed for good. BullMQ hands
 * such a job to a worker with a deferred failure and fails it without calling the handler;
 * the worker's `failed` event brings it here, and it leaves the dead letters for the queue's
 * skipped set (`lua/skip.lua`): its state is `skipped`, its result the failure that stopped it.
 */
@Injectable()
export class SkippedSteps {
  private readonly logger = new ConveyorLogger('Conveyor');
  private script?: (key: string, ...args: (string | number)[]) => Promise<unknown>;

  constructor(
    private readonly redis: RedisConnections,
    @Inject(RESOLVED_TASKS_OPTIONS) private readonly options: ResolvedModuleOptions,
  ) {}

  /**
   * True for a job BullMQ failed because a step it depends on failed (it never ran). BullMQ
   * defers other failures the same way (a job stalled too often), so the reason decides.
   */
  static isSkipped(job: Job | undefined): boolean {
    const reason = job?.deferredFailure;
    return typeof reason === 'string' && CHILD_FAILED.test(reason);
  }

  /** Moves a skipped step out of the dead letters. */
  async mark(job: Job): Promise<void> {
    this.script ??= defineScripts(this.redis.workerClient, join(__dirname, 'lua'), ['skip']).skip;
    const queueKey = this.options.keys.queueKey(job.queueName);
    try {
      await this.script(`${queueKey}${job.id}`, queueKey, job.id!, SKIPPED_TTL_MS);
    } catch (error) {
      this.logger.warn(
        `workflow step ${job.id} never ran (a step before it failed) and stays among the dead letters: ${(error as Error).message}`,
        { jobId: job.id, queue: job.queueName, error: errorField(error) },
      );
    }
  }
}
