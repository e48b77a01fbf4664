import {
  type BeforeApplicationShutdown,
  Inject,
  Injectable,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { type Job, UnrecoverableError, WaitingChildrenError, Worker } from 'bullmq';
import type { RedisClient } from '../redis/open-connection';
import { closeOrIdle, settleWithin } from '../lifecycle/settle-within';
import type { ResolvedModuleOptions } from '../options/module-options';
import { quit, RedisConnections } from '../redis/redis-connections';
import { RESOLVED_TASKS_OPTIONS } from '../tasks.constants';
import { TasksRegistry } from '../tasks.registry';
import { envelopeOf, fillFanOutInput, STEP_ENVELOPE_KEY, stepPayload } from './step-input';
import { FAN_OUT, GROUP_COLLECTOR } from './workflow-plan';
import { WorkflowProducer } from './workflow-producer';
import { SkippedSteps } from './skipped-steps';
import { ConveyorLogger, errorField } from '../logging/conveyor-logger';

/**
 * Runs Conveyor's own workflow jobs (a group's collector, which returns its members' results
 * in order; a fan-out) in every process that runs workers. They are cheap and stateless; any
 * process may take them, and a process that dies leaves them to BullMQ's stalled-job check.
 * One BullMQ worker per workflow queue: one in all, or with `hashTags: 'queue'` one per hash
 * tag of the queues this process handles (a workflow's jobs live in its steps' tag).
 */
@Injectable()
export class WorkflowWorker
  implements OnApplicationBootstrap, BeforeApplicationShutdown, OnApplicationShutdown
{
  private readonly logger = new ConveyorLogger('Conveyor');
  private workers: Worker[] = [];
  private connection?: RedisClient;
  private stopped?: Promise<unknown>;
  private inFlight = 0;
  private idleWaiters: (() => void)[] = [];

  constructor(
    @Inject(RESOLVED_TASKS_OPTIONS) private readonly options: ResolvedModuleOptions,
    private readonly registry: TasksRegistry,
    private readonly redis: RedisConnections,
    private readonly workflows: WorkflowProducer,
    private readonly skipped: SkippedSteps,
  ) {}

  onApplicationBootstrap(): void {
    if (this.options.workers === 'none' || this.registry.handledQueues().size === 0) return;
    // A connection of its own: forcing this worker's close disconnects its connection, which
    // must not be the one the task workers still finish their jobs on.
    const connection = (this.connection = this.redis.create('workflows', {
      maxRetriesPerRequest: null,
    }));
    const { keys } = this.options;
    // The tags of the queues this process handles: a workflow's steps are handled somewhere,
    // and that process takes its collectors and fan-outs too.
    const queues = new Set([...this.registry.handledQueues()].map((q) => keys.workflowQueue(q)));
    // A down Redis reports on every reconnect attempt; once every 10 s is enough to notice.
    let lastErrorLog = 0;
    this.workers = [...queues].map((queue) => {
      const worker = new Worker(queue, (job, token) => this.run(job, token), {
        connection,
        prefix: keys.prefixOf(queue),
        concurrency: 10,
      });
      // A collector or fan-out whose steps failed never runs: no dead letter of Conveyor's.
      worker.on('failed', (job) => {
        if (job && SkippedSteps.isSkipped(job)) void this.skipped.mark(job);
      });
      worker.on('error', (error) => {
        if (Date.now() - lastErrorLog < 10_000) return;
        lastErrorLog = Date.now();
        this.logger.error(`workflow worker: ${error.message}`, {
          queue,
          error: errorField(error),
        });
      });
      return worker;
    });
  }

  /**
   * Stops taking workflow jobs and lets those in flight finish up to `shutdownTimeout`, then
   * disconnects (BullMQ's close() waits without limit for a Redis that is down; a job cut
   * short stays active and BullMQ's stalled-job check gives it back). Once nothing is in
   * flight, the close gets CLOSE_GRACE_MS, not the whole deadline: after a Redis restart or
   * with Redis hung, BullMQ's close can wait on its blocking connection for nothing
   * (taskforcesh/bullmq#4656). Not awaited here: Nest runs this hook before the task
   * workers' (it depends on more), and their deadline must run alongside this one, not after
   * it. `onApplicationShutdown` waits for the end.
   */
  beforeApplicationShutdown(): void {
    const workers = this.workers;
    this.workers = [];
    if (!workers.length) return;
    const closed = Promise.all(workers.map((worker) => worker.close()));
    const connection = this.connection;
    this.connection = undefined;
    this.stopped = closeOrIdle(closed, () => this.whenIdle(), this.options.shutdownTimeoutMs)
      .then(() =>
        settleWithin(closed, 0, () => workers.forEach((worker) => void worker.disconnect())),
      )
      .then(() => quit(connection));
  }

  /** Bounded: at most `shutdownTimeout` and a grace after the stop began. */
  async onApplicationShutdown(): Promise<void> {
    await this.stopped;
    this.stopped = undefined;
  }

  private async run(job: Job, token: string | undefined): Promise<unknown> {
    this.inFlight++;
    try {
      if (job.name === GROUP_COLLECTOR) return await stepPayload(job);
      if (job.name === FAN_OUT) return await this.fanOut(job, token);
      throw new Error(`unknown workflow job '${job.name}'`);
    } finally {
      if (--this.inFlight === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
    }
  }

  private whenIdle(): Promise<void> {
    if (!this.inFlight) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * First run: add the group or chord with the previous step's result as input, as this
   * job's child, and wait for it. Second run (the child is done): return its result.
   * A crash between the two adds the same job ids again, which BullMQ ignores.
   */
  private async fanOut(job: Job, token: string | undefined): Promise<unknown> {
    const envelope = envelopeOf(job.data)!;
    const expand = envelope.expand!;
    if (!envelope.expanded) {
      const value = await stepPayload(job);
      const flow = fillFanOutInput(expand.flow, value);
      await this.workflows.addFlow({
        ...flow,
        opts: {
          ...flow.opts,
          parent: { id: job.id!, queue: job.queueQualifiedName },
        },
      });
      await job.updateData({ ...job.data, [STEP_ENVELOPE_KEY]: { ...envelope, expanded: true } });
      let waiting: boolean;
      try {
        waiting = await job.moveToWaitingChildren(token ?? '');
      } catch (error) {
        // The group failed before this job began to wait for it (BullMQ refuses the move).
        throw new UnrecoverableError(`the fanned-out steps failed: ${(error as Error).message}`);
      }
      if (waiting) throw new WaitingChildrenError();
    }
    const { processed = {} } = await job.getDependencies();
    if (!(expand.topKey in processed)) {
      throw new UnrecoverableError(`the fanned-out steps did not complete (${expand.topKey})`);
    }
    const values: Record<string, unknown> = (await job.getChildrenValues()) ?? {};
    return values[expand.topKey] ?? null;
  }
}
