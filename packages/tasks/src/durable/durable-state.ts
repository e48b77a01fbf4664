import { Inject, Injectable } from '@nestjs/common';
import type { Job } from 'bullmq';
import type { ResolvedModuleOptions } from '../options/module-options';
import { ConveyorQueues } from '../producer/conveyor-queues';
import { RedisConnections } from '../redis/redis-connections';
import { RESOLVED_TASKS_OPTIONS } from '../tasks.constants';
import { DURABLE_QUEUE, DurableStore } from './durable-store';
import { parseStepJobId, type StoredError } from './workflow-replay';

/** The name of every job of the `conveyor.durable` queue: one run (replay) of a workflow. */
export const WORKFLOW_RUN_JOB = 'workflow.run';

/** The state store, and the wake-ups that start a workflow's next run. */
@Injectable()
export class DurableState {
  readonly store: DurableStore;

  constructor(
    @Inject(RESOLVED_TASKS_OPTIONS) options: ResolvedModuleOptions,
    redis: RedisConnections,
    private readonly queues: ConveyorQueues,
  ) {
    this.store = new DurableStore(() => redis.client, options.keys, options.workflowRetentionMs);
  }

  /**
   * Adds a run of workflow `id`, at once or at `at` (ms). The job id, `dwf~<id>~<reason>`,
   * makes each reason wake it once while the job waits; `current` is the id of the run that
   * asks, which BullMQ would take for a duplicate of the new one.
   */
  async wake(id: string, reason: string, at?: number, current?: string): Promise<void> {
    let jobId = `dwf~${id}~${reason}`;
    if (jobId === current) jobId = `${jobId}.${Date.now()}`;
    const delay = at === undefined ? 0 : Math.max(0, at - Date.now());
    const queue = this.queues.queue(DURABLE_QUEUE);
    await this.queues.send(() =>
      queue.add(
        WORKFLOW_RUN_JOB,
        { id },
        {
          jobId,
          delay,
          // A run is a replay: only Redis errors fail one, and a later one retries it.
          attempts: 20,
          backoff: { type: 'exponential', delay: 500 },
          removeOnComplete: true,
          removeOnFail: { count: 1000 },
        },
      ),
    );
  }

  /**
   * Called by the task runner when a job ends for good. For a workflow's step (its id says
   * so), records the outcome in the journal, once, then wakes the workflow. Runs before
   * BullMQ marks the job done: a worker that dies in between leaves the job to run again,
   * and the record is then a no-op. `false` for any other job.
   */
  async stepSettled(job: Job, ok: boolean, value: unknown): Promise<boolean> {
    const step = parseStepJobId(job.id);
    if (!step) return false;
    const stored = ok ? JSON.stringify(value ?? null) : JSON.stringify(storedError(value, job));
    await this.store.settle(step.id, step.field, ok, stored);
    await this.wake(step.id, `w${step.field}`);
    return true;
  }
}

function storedError(error: unknown, job: Job): StoredError {
  const err = error instanceof Error ? error : new Error(String(error));
  return {
    name: err.name,
    message: err.message,
    attemptsMade: job.attemptsMade + 1,
    ...(err.stack ? { stack: err.stack } : {}),
  };
}
