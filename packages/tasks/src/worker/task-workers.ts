import {
  type BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { type Job, Worker } from 'bullmq';
import { InvalidModuleOptionsError } from '../errors';
import { DEFAULT_QUEUE_OPTIONS, type ResolvedModuleOptions } from '../options/module-options';
import { RedisConnections } from '../redis/redis-connections';
import { RESOLVED_TASKS_OPTIONS } from '../tasks.constants';
import { TasksRegistry } from '../tasks.registry';
import { backoffDelay } from './backoff';
import { TaskRunner } from './task-runner';

/**
 * The BullMQ workers of this process, one per consumed queue. They start once the app has
 * bootstrapped (every handler is registered by then) and stop first on shutdown.
 */
@Injectable()
export class TaskWorkers implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('Conveyor');
  private readonly workers = new Map<string, Worker>();
  private stopping?: Promise<void>;

  constructor(
    @Inject(RESOLVED_TASKS_OPTIONS) private readonly options: ResolvedModuleOptions,
    private readonly registry: TasksRegistry,
    private readonly runner: TaskRunner,
    private readonly redis: RedisConnections,
  ) {}

  /** Queues this process consumes. */
  get queues(): string[] {
    return [...this.workers.keys()];
  }

  /** True while every worker of this process is running (for health checks). */
  isRunning(): boolean {
    return [...this.workers.values()].every((worker) => worker.isRunning());
  }

  onApplicationBootstrap(): void {
    for (const queue of this.selectQueues()) this.start(queue);
    if (this.workers.size) this.logger.log(`consuming queues: ${this.queues.join(', ')}`);
  }

  beforeApplicationShutdown(): Promise<void> {
    return (this.stopping ??= this.stop());
  }

  private selectQueues(): string[] {
    const selection = this.options.workers;
    const handled = this.registry.handledQueues();
    if (selection === 'none') return [];
    if (selection === 'all') return [...handled];
    for (const queue of selection) {
      if (!handled.has(queue)) {
        throw new InvalidModuleOptionsError(
          `workers lists queue '${queue}', but no @Task() handler in this app routes to it ` +
            `(queues with handlers: ${[...handled].join(', ') || 'none'})`,
        );
      }
    }
    return [...new Set(selection)];
  }

  private start(queue: string): void {
    const queueOptions = this.options.queues?.get(queue) ?? DEFAULT_QUEUE_OPTIONS;
    const worker = new Worker(queue, (job, token, signal) => this.runner.run(job, token, signal), {
      connection: this.redis.workerClient,
      prefix: this.options.prefix,
      concurrency: queueOptions.concurrency,
      limiter: queueOptions.rateLimit
        ? { max: queueOptions.rateLimit.max, duration: queueOptions.rateLimit.durationMs }
        : undefined,
      settings: {
        backoffStrategy: (attemptsMade: number, _type?: string, _err?: Error, job?: unknown) => {
          const task = this.registry.get((job as Job | undefined)?.name ?? '');
          return task ? backoffDelay(task.options.backoff, attemptsMade) : 0;
        },
      },
      autorun: false,
    });
    worker.on('error', (error) =>
      this.logger.error(`worker of queue '${queue}': ${error.message}`),
    );
    this.workers.set(queue, worker);
    worker
      .run()
      .catch((error: Error) =>
        this.logger.error(`worker of queue '${queue}' stopped: ${error.message}`),
      );
  }

  /**
   * Stops taking jobs, waits for those in flight up to `shutdownTimeout`, then hands the rest
   * back to their queues so another worker runs them: a job is delayed by shutdown, never lost.
   */
  private async stop(): Promise<void> {
    if (!this.workers.size) return;
    const closed = Promise.all([...this.workers.values()].map((worker) => worker.close()));
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'deadline'>((resolve) => {
      timer = setTimeout(() => resolve('deadline'), this.options.shutdownTimeoutMs);
    });
    const outcome = await Promise.race([closed.then(() => 'closed' as const), deadline]);
    clearTimeout(timer);
    if (outcome === 'deadline') {
      const count = await this.runner.handBackAll();
      this.logger.warn(
        `shutdown deadline passed: handed ${count} job(s) in flight back to their queues`,
      );
      await closed;
    }
    this.workers.clear();
  }
}
