import {
  type BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { type Job, Worker } from 'bullmq';
import type { ResolvedModuleOptions } from '../options/module-options';
import { RedisConnections } from '../redis/redis-connections';
import { RESOLVED_TASKS_OPTIONS } from '../tasks.constants';
import { TasksRegistry } from '../tasks.registry';
import { stepPayload } from './step-input';
import { GROUP_COLLECTOR, WORKFLOW_QUEUE } from './workflow-plan';

/**
 * Runs Conveyor's own workflow jobs (a group's collector, which returns its members' results
 * in order) in every process that runs workers. They are cheap and stateless; any process
 * may take them, and a process that dies leaves them to BullMQ's stalled-job check.
 */
@Injectable()
export class WorkflowWorker implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('Conveyor');
  private worker?: Worker;

  constructor(
    @Inject(RESOLVED_TASKS_OPTIONS) private readonly options: ResolvedModuleOptions,
    private readonly registry: TasksRegistry,
    private readonly redis: RedisConnections,
  ) {}

  onApplicationBootstrap(): void {
    if (this.options.workers === 'none' || this.registry.handledQueues().size === 0) return;
    this.worker = new Worker(WORKFLOW_QUEUE, (job) => this.run(job), {
      connection: this.redis.workerClient,
      prefix: this.options.prefix,
      concurrency: 10,
    });
    this.worker.on('error', (error) => this.logger.error(`workflow worker: ${error.message}`));
  }

  async beforeApplicationShutdown(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    await worker?.close();
  }

  private async run(job: Job): Promise<unknown> {
    if (job.name === GROUP_COLLECTOR) return stepPayload(job);
    throw new Error(`unknown workflow job '${job.name}'`);
  }
}
