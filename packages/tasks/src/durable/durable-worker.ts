import {
  type BeforeApplicationShutdown,
  Inject,
  Injectable,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { type Job, Worker } from 'bullmq';
import { closeOrIdle, settleWithin } from '../lifecycle/settle-within';
import { ConveyorLogger, errorField } from '../logging/conveyor-logger';
import type { ResolvedModuleOptions } from '../options/module-options';
import type { RedisClient } from '../redis/open-connection';
import { quit, RedisConnections } from '../redis/redis-connections';
import { RESOLVED_TASKS_OPTIONS } from '../tasks.constants';
import { DurableRuns, type RunEnd } from './durable-runs';
import { DURABLE_QUEUE } from './durable-store';

/**
 * Takes the runs of durable workflows (`conveyor.durable` jobs) in every process that has
 * workers and registers workflows. A run only replays and writes: it holds its slot for
 * milliseconds, never across a step, a sleep or a wait. A process that dies mid-run leaves
 * the job to BullMQ's stalled-job check, and the next run replays from the journal.
 */
@Injectable()
export class DurableWorker
  implements OnApplicationBootstrap, BeforeApplicationShutdown, OnApplicationShutdown
{
  private readonly logger = new ConveyorLogger('Conveyor');
  private worker?: Worker;
  private connection?: RedisClient;
  private stopped?: Promise<unknown>;
  private inFlight = 0;
  private idleWaiters: (() => void)[] = [];

  constructor(
    @Inject(RESOLVED_TASKS_OPTIONS) private readonly options: ResolvedModuleOptions,
    private readonly redis: RedisConnections,
    private readonly runs: DurableRuns,
  ) {}

  onApplicationBootstrap(): void {
    if (this.options.workers === 'none' || this.runs.registered.size === 0) return;
    const connection = (this.connection = this.redis.create('durable', {
      maxRetriesPerRequest: null,
    }));
    let lastErrorLog = 0;
    const worker = (this.worker = new Worker(DURABLE_QUEUE, (job) => this.run(job), {
      connection,
      prefix: this.options.keys.prefixOf(DURABLE_QUEUE),
      concurrency: 10,
      // A run takes milliseconds: a short lock gives a killed process's run back in seconds.
      lockDuration: 10_000,
      stalledInterval: 5_000,
      maxStalledCount: 10,
    }));
    worker.on('error', (error) => {
      if (Date.now() - lastErrorLog < 10_000) return;
      lastErrorLog = Date.now();
      this.logger.error(`durable workflow worker: ${error.message}`, { error: errorField(error) });
    });
  }

  /** As `WorkflowWorker`: stop taking runs, let those in flight end within the deadline. */
  beforeApplicationShutdown(): void {
    const worker = this.worker;
    this.worker = undefined;
    if (!worker) return;
    const closed = worker.close();
    const connection = this.connection;
    this.connection = undefined;
    this.stopped = closeOrIdle(closed, () => this.whenIdle(), this.options.shutdownTimeoutMs)
      .then(() => settleWithin(closed, 0, () => void worker.disconnect()))
      .then(() => quit(connection));
  }

  async onApplicationShutdown(): Promise<void> {
    await this.stopped;
    this.stopped = undefined;
  }

  private async run(job: Job<{ id: string }>): Promise<RunEnd> {
    this.inFlight++;
    try {
      return await this.runs.run(job.data.id, job.id!);
    } finally {
      if (--this.inFlight === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
    }
  }

  private whenIdle(): Promise<void> {
    if (!this.inFlight) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }
}
