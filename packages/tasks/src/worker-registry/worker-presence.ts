import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { type BeforeApplicationShutdown, Inject, Injectable } from '@nestjs/common';
import { TaskInstrumentation } from '../instrumentation/task-instrumentation';
import { CLOSE_GRACE_MS, settleWithin } from '../lifecycle/settle-within';
import { ConveyorLogger, errorField } from '../logging/conveyor-logger';
import type { ResolvedModuleOptions } from '../options/module-options';
import type { RedisClient } from '../redis/open-connection';
import { RESOLVED_TASKS_OPTIONS } from '../tasks.constants';
import { TaskRunner } from '../worker/task-runner';
import { RunStats } from './run-stats';
import { CONVEYOR_VERSION } from './version';
import type { StoredPingReply } from './worker-pings';
import { type StoredWorker, WorkerStore } from './worker-store';

/** What the registry reads from this process's workers at each heartbeat. */
export interface WorkerSource {
  readonly queues: string[];
  concurrencyOf(queue: string): number | undefined;
}

/** Jobs listed in an entry: enough to see what a process is busy with, bounded in size. */
const MAX_LISTED_RUNS = 100;

/**
 * This process's entry in the worker registry. `TaskWorkers` starts it once its workers run
 * (handing it its cancel/control subscriber, on which pings arrive too) and stops it once they
 * have stopped: the entry is then removed. In between, a timer writes the entry every
 * `heartbeat.interval`; the running jobs come from the runner's in-flight map and the run
 * figures from an observer, so running a job sends no extra Redis command.
 */
@Injectable()
export class WorkerPresence implements BeforeApplicationShutdown {
  /** `<host>:<pid>:<random>`: containers often share pid 1, and a restart may reuse a pid. */
  readonly id = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  private readonly logger = new ConveyorLogger('Conveyor');
  private source?: WorkerSource;
  private stats?: RunStats;
  private startedAt = 0;
  private timer?: NodeJS.Timeout;
  private beating?: Promise<void>;
  private beatAgain = false;
  private stopping = false;
  private unobserve?: () => void;
  private lastErrorLog = 0;

  constructor(
    @Inject(RESOLVED_TASKS_OPTIONS) private readonly options: ResolvedModuleOptions,
    private readonly store: WorkerStore,
    private readonly runner: TaskRunner,
    private readonly instrumentation: TaskInstrumentation,
  ) {}

  /** True from `start()` to `stop()`: this process's workers run. */
  get started(): boolean {
    return this.source !== undefined;
  }

  start(subscriber: RedisClient, source: WorkerSource): void {
    if (this.source) return;
    this.source = source;
    this.startedAt = Date.now();
    const stats = (this.stats = new RunStats(this.startedAt));
    this.unobserve = this.instrumentation.observe({
      succeeded: (_task, queue, ms) => stats.record(queue, ms),
      failed: (_task, queue, ms) => stats.record(queue, ms),
    });
    const ping = this.store.keys.ping;
    subscriber.on('message', (channel: string, message: string) => {
      if (channel === ping) this.answer(message);
    });
    subscriber.subscribe(ping).catch((error: Error) =>
      this.logger.error(`cannot listen for worker pings: ${error.message}`, {
        error: errorField(error),
      }),
    );
    this.beat();
    this.timer = setInterval(() => this.beat(), this.options.heartbeat.intervalMs);
    this.timer.unref();
  }

  /** Shutdown begins: the entry says so at once, so nobody counts on this process for work. */
  beforeApplicationShutdown(): void {
    if (!this.source || this.stopping) return;
    this.stopping = true;
    this.beat();
  }

  /**
   * Removes the entry. Bounded, and skipped while Redis is not connected (shutdown must not
   * wait for it): the entry then expires after `heartbeat.ttl`.
   */
  async stop(): Promise<void> {
    if (!this.source) return;
    clearInterval(this.timer);
    this.unobserve?.();
    this.source = undefined;
    // Sent after any beat still under way, on the same connection: Redis runs them in order,
    // so a late beat cannot bring the entry back.
    const left = this.store.connected ? this.store.leave(this.id) : undefined;
    left?.catch(() => undefined);
    if (!left || (await settleWithin(left, CLOSE_GRACE_MS)) !== 'settled') {
      this.logger.warn(
        `could not remove this worker's registry entry; it expires within ${this.options.heartbeat.ttlMs} ms`,
      );
    }
  }

  /** The entry as written now. */
  describe(): StoredWorker {
    const source = this.source!;
    const now = Date.now();
    const runs = [...this.runner.runs()].map(({ job }) => ({
      task: job.name,
      jobId: job.id ?? '',
      queue: job.queueName,
      startedAt: job.processedOn ?? now,
    }));
    runs.sort((a, b) => a.startedAt - b.startedAt);
    return {
      host: hostname(),
      pid: process.pid,
      version: CONVEYOR_VERSION,
      startedAt: this.startedAt,
      stopping: this.stopping,
      queues: source.queues.map((name) => ({
        name,
        concurrency: source.concurrencyOf(name) ?? 0,
        running: runs.filter((run) => run.queue === name).length,
        ...this.stats!.recent(name),
      })),
      running: runs.slice(0, MAX_LISTED_RUNS),
    };
  }

  /**
   * One write. While the last one is still under way (a slow or absent Redis) none is added;
   * a beat asked for meanwhile (the stopping mark) is written once that one ends.
   */
  private beat(): void {
    if (!this.source) return;
    if (this.beating) {
      this.beatAgain = true;
      return;
    }
    this.beating = this.store
      .beat(this.id, this.describe(), this.options.heartbeat.ttlMs)
      .then(
        () => undefined,
        (error: Error) => {
          // Redis down: every beat fails; once a minute is enough to notice.
          const now = Date.now();
          if (now - this.lastErrorLog < 60_000) return;
          this.lastErrorLog = now;
          this.logger.warn(`worker heartbeat not written: ${error.message}`, {
            error: errorField(error),
          });
        },
      )
      .finally(() => {
        this.beating = undefined;
        if (!this.beatAgain) return;
        this.beatAgain = false;
        this.beat();
      });
  }

  private answer(message: string): void {
    let reply: unknown;
    try {
      reply = (JSON.parse(message) as { reply?: unknown }).reply;
    } catch {
      return;
    }
    // Answers go to a reply channel of this app's registry only.
    if (!this.source || typeof reply !== 'string' || !reply.startsWith(this.store.keys.pong)) {
      return;
    }
    const answer: StoredPingReply = {
      id: this.id,
      host: hostname(),
      pid: process.pid,
      version: CONVEYOR_VERSION,
      queues: this.source.queues,
      running: this.runner.inFlightCount,
    };
    this.store.answer(reply, answer).catch(() => undefined);
  }
}
