import { hostname } from 'node:os';
import {
  type BeforeApplicationShutdown,
  Inject,
  Injectable,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { type Job, Worker } from 'bullmq';
import { InvalidModuleOptionsError } from '../errors';
import {
  DEFAULT_QUEUE_OPTIONS,
  type ResolvedModuleOptions,
  type ResolvedQueueOptions,
} from '../options/module-options';
import type { RedisClient } from '../redis/open-connection';
import { TaskCancellation } from '../producer/task-cancellation';
import { CLOSE_GRACE_MS, closeOrIdle, settleWithin } from '../lifecycle/settle-within';
import { quit, RedisConnections } from '../redis/redis-connections';
import { RESOLVED_TASKS_OPTIONS } from '../tasks.constants';
import { definedOnly } from '../options/validation';
import { TasksRegistry } from '../tasks.registry';
import { traceRun } from '../instrumentation/task-tracing';
import { ConveyorLogger, errorField } from '../logging/conveyor-logger';
import { RunOutcome } from '../outcome/run-outcome';
import { TaskHooksRunner } from './task-hooks-runner';
import { DurableState } from '../durable/durable-state';
import { TaskRunner } from './task-runner';
import { RunAdmission } from '../admission/run-admission';
import { ControlStore } from '../control/control-store';
import { ControlFollower } from '../control/control-follower';
import type { StoredControls } from '../control/control-store';
import { RunControls } from '../control/run-controls';
import { BreakerRuns } from '../breakers/breaker-runs';
import { WorkerPresence } from '../worker-registry/worker-presence';
import { RunHistory } from '../stats/run-history';
import { SkippedSteps } from '../workflows/skipped-steps';

/** How this process's workers sign the jobs they take: `host:pid`. */
const WORKER_NAME = `${hostname()}:${process.pid}`;

/**
 * The BullMQ workers of this process, one per consumed queue. They start once the app has
 * bootstrapped (every handler is registered by then) and stop first on shutdown.
 */
@Injectable()
export class TaskWorkers implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new ConveyorLogger('Conveyor');
  private readonly workers = new Map<string, Worker>();
  private stopping?: Promise<void>;
  private subscriber?: RedisClient;
  private readonly follower: ControlFollower;

  constructor(
    @Inject(RESOLVED_TASKS_OPTIONS) private readonly options: ResolvedModuleOptions,
    private readonly registry: TasksRegistry,
    private readonly runner: TaskRunner,
    private readonly redis: RedisConnections,
    private readonly hooks: TaskHooksRunner,
    private readonly cancellation: TaskCancellation,
    private readonly admission: RunAdmission,
    private readonly outcome: RunOutcome,
    private readonly controls: ControlStore,
    private readonly runControls: RunControls,
    private readonly breakers: BreakerRuns,
    private readonly presence: WorkerPresence,
    private readonly history: RunHistory,
    private readonly skipped: SkippedSteps,
    private readonly durable: DurableState,
  ) {
    this.follower = new ControlFollower(
      controls,
      this.workers,
      (queue) => this.declared(queue),
      this.logger,
      (read) => this.runControls.apply(read, this.queues),
    );
  }

  /** Queues this process consumes. */
  get queues(): string[] {
    return [...this.workers.keys()];
  }

  /**
   * How many jobs of `queue` this process runs at once now (the declared value, or an
   * override from `TaskControl`); `undefined` when it does not consume `queue`.
   */
  concurrencyOf(queue: string): number | undefined {
    return this.workers.get(queue)?.concurrency;
  }

  /** True while every worker of this process is running (for health checks). */
  isRunning(): boolean {
    return [...this.workers.values()].every((worker) => worker.isRunning());
  }

  async onApplicationBootstrap(): Promise<void> {
    const queues = this.selectQueues();
    if (!queues.length) return;
    // Overrides first, so a worker never starts above a concurrency lowered at run time, nor
    // runs a paused task's job.
    const controls = await this.readControlsAtStart();
    if (controls) await this.runControls.apply(controls, queues);
    for (const queue of queues) this.start(queue, controls);
    this.logger.log(`consuming queues: ${this.queues.join(', ')}`, { queues: this.queues });
    this.listen();
    this.presence.start(this.subscriber!, this);
    this.history.start();
  }

  /**
   * The concurrency overrides now in Redis. Redis being down must not keep the app from
   * starting (its workers ride the outage out): they start on their declared values, and the
   * subscriber reads the overrides once it connects.
   */
  private async readControlsAtStart(): Promise<StoredControls | undefined> {
    try {
      return await this.controls.read();
    } catch (error) {
      this.logger.warn(
        `cannot read run-time controls (${(error as Error).message}); workers start on ` +
          'their declared concurrency and apply overrides once Redis answers',
        { error: errorField(error) },
      );
      return undefined;
    }
  }

  /**
   * One subscriber for what other processes announce: cancels (the run, if it is here, is
   * aborted) and run-time controls (re-read and applied). On every (re)connect, once its
   * subscriptions are back, the controls are read again: a change announced while it was
   * away is not missed.
   */
  private listen(): void {
    const subscriber = (this.subscriber = this.redis.create('cancel', {
      maxRetriesPerRequest: null,
    }));
    const cancels = this.cancellation.channel;
    const controls = this.controls.channel;
    const breakers = this.breakers.channel;
    subscriber.on('message', (channel: string, message: string) => {
      if (channel === controls) return this.follower.refresh();
      if (channel === breakers) return void this.breakers.refresh(message);
      if (channel !== cancels) return;
      try {
        const { queue, jobId, reason } = JSON.parse(message) as {
          queue: string;
          jobId: string;
          reason: string;
        };
        if (this.workers.has(queue)) this.runner.cancelRun(queue, jobId, reason);
      } catch {
        this.logger.warn('ignored a malformed cancel message');
      }
    });
    subscriber.subscribe(cancels).catch((error: Error) => {
      this.logger.error(`cannot listen for cancels: ${error.message}`, {
        error: errorField(error),
      });
    });
    // ioredis emits 'ready' before it resubscribes; a SUBSCRIBE sent now is answered after
    // those, so once it resolves no announcement can be missed and a read sees every change.
    const channels = this.breakers.used ? [controls, breakers] : [controls];
    subscriber.on('ready', () => {
      subscriber.subscribe(...channels).then(
        () => {
          this.follower.refresh();
          if (this.breakers.used) void this.breakers.follow(this.queues);
        },
        (error: Error) =>
          this.logger.error(`cannot listen for run-time controls: ${error.message}`, {
            error: errorField(error),
          }),
      );
    });
  }

  beforeApplicationShutdown(): Promise<void> {
    this.follower.stop();
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

  private declared(queue: string): ResolvedQueueOptions {
    return this.options.queues?.get(queue) ?? DEFAULT_QUEUE_OPTIONS;
  }

  private start(queue: string, controls?: StoredControls): void {
    const queueOptions = this.declared(queue);
    const rateOverride = controls?.queueRates.get(queue);
    const rateLimit = rateOverride
      ? { max: rateOverride.max, durationMs: rateOverride.perMs }
      : queueOptions.rateLimit;
    // Two parameters on purpose: BullMQ then makes no AbortController per job. The runner
    // makes its own signal when a handler asks, and learns of lost locks from the event below.
    const processor = (job: Job, token?: string) =>
      traceRun(job, () => this.runner.run(job, token));
    const worker = new Worker(queue, processor, {
      // BullMQ records it on each job it takes (`processedBy`): TaskHandle.info() names the worker.
      name: WORKER_NAME,
      connection: this.redis.workerClient,
      prefix: this.options.keys.prefixOf(queue),
      concurrency: controls?.concurrency.get(queue) ?? queueOptions.concurrency,
      // Spread, not assigned: an explicit undefined would override BullMQ's defaults.
      ...definedOnly({
        lockDuration: queueOptions.lockDurationMs,
        stalledInterval: queueOptions.stalledIntervalMs,
        maxStalledCount: queueOptions.maxStalledCount,
      }),
      limiter: rateLimit ? { max: rateLimit.max, duration: rateLimit.durationMs } : undefined,
      settings: {
        backoffStrategy: (attemptsMade: number, _type?: string, err?: Error, job?: unknown) => {
          const task = this.registry.get((job as Job | undefined)?.name ?? '');
          return task ? this.outcome.retryDelay(task, job as Job, attemptsMade, err) : 0;
        },
      },
      autorun: false,
    });
    // While Redis is down BullMQ reports every reconnect attempt of every connection (many a
    // second); once every 10 s per queue is enough to notice, as for the module's clients.
    let lastErrorLog = 0;
    worker.on('error', (error) => {
      const now = Date.now();
      if (now - lastErrorLog < 10_000) return;
      lastErrorLog = now;
      // A Redis that is down: its stack would say nothing the message does not.
      this.logger.error(`worker of queue '${queue}': ${error.message}`, {
        queue,
        error: errorField(error),
      });
    });
    worker.on('lockRenewalFailed', (jobIds: string[]) => this.runner.lockLost(queue, jobIds));
    // Jobs failed outside a run (too many lost workers) reach their dead-letter hooks here.
    worker.on('failed', (job, error) => {
      // A workflow step that never ran (a step before it failed) is no dead letter.
      if (job && SkippedSteps.isSkipped(job)) return void this.skipped.mark(job);
      if (!job?.finishedOn) return;
      void this.hooks.deadLetter(this.registry.get(job.name), job, error);
      // A workflow step failed by the stalled check never reached the runner's record of it.
      if (job.id?.startsWith('dwf~')) {
        this.durable
          .stepSettled(job, false, error)
          .catch((recordError: Error) =>
            this.logger.warn(
              `could not record the failure of workflow step ${job.id}: ${recordError.message}`,
              { queue, error: errorField(recordError) },
            ),
          );
      }
    });
    this.workers.set(queue, worker);
    this.admission.watch(queue, this.registry.hasLimits(queue));
    worker
      .run()
      .catch((error: Error) =>
        this.logger.error(`worker of queue '${queue}' stopped: ${error.message}`, { queue }, error),
      );
  }

  /**
   * Stops taking jobs, waits for those in flight up to `shutdownTimeout`, then hands the rest
   * back to their queues so another worker runs them: a job is delayed by shutdown, never lost.
   * Past the deadline every step is bounded, so a Redis that is down cannot hold the process:
   * a job that cannot be handed back stays active in Redis, and BullMQ's stalled-job check
   * gives it back once its lock expires.
   */
  private async stop(): Promise<void> {
    if (!this.workers.size) return;
    const workers = [...this.workers.values()];
    const closed = Promise.all(workers.map((worker) => worker.close()));
    const ended = closeOrIdle(closed, () => this.runner.whenIdle(), this.options.shutdownTimeoutMs);
    if ((await ended) !== 'settled') {
      let count: number | undefined;
      const handedBack = this.runner.handBackAll().then((n) => (count = n));
      const answered = (await settleWithin(handedBack, CLOSE_GRACE_MS)) === 'settled';
      this.logger.warn(
        answered
          ? `shutdown deadline passed: handed ${count} job(s) in flight back to their queues`
          : 'shutdown deadline passed and Redis does not answer: jobs in flight stay active ' +
              'and return to their queues once their locks expire',
        { handedBack: count, shutdownTimeoutMs: this.options.shutdownTimeoutMs },
      );
      // BullMQ's close() is already under way (a second close(true) returns the same
      // promise): a disconnect is what ends the commands it waits for. With Redis down even
      // that does not end it (its blocking connection waits for an 'end' that never comes),
      // so it gets no grace then.
      const grace = answered ? CLOSE_GRACE_MS : 0;
      await settleWithin(
        closed,
        grace,
        () => {
          for (const worker of workers) void worker.disconnect().catch(() => undefined);
          this.redis.workerClient.disconnect();
        },
        grace,
      );
    }
    if ((await settleWithin(closed, 0)) !== 'settled') {
      // Idle, and BullMQ's close still waits: end it by disconnecting (jobs a worker fetched
      // at that moment stay active and come back through the stalled check).
      await settleWithin(closed, 0, () => {
        for (const worker of workers) void worker.disconnect().catch(() => undefined);
      });
    }
    this.workers.clear();
    await this.presence.stop();
    await this.history.stop();
    await quit(this.subscriber);
  }
}
