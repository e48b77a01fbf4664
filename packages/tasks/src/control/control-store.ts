import { Injectable } from '@nestjs/common';
import { ConveyorQueues } from '../producer/conveyor-queues';
import { RedisConnections } from '../redis/redis-connections';

/** A rate limit as stored: starts per window. */
export interface StoredRate {
  max: number;
  perMs: number;
}

/** A task's run-time overrides, as `TaskControl` sets them. */
export interface TaskOverrides {
  maxConcurrent?: number;
  rateLimit?: StoredRate;
  /** Paused with `TaskControl.pauseTask()`: its jobs wait, parked, until resumed. */
  paused?: boolean;
}

/** Run-time overrides as stored in Redis. */
export interface StoredControls {
  /** Worker concurrency set by `TaskControl.setConcurrency`, by queue. */
  concurrency: Map<string, number>;
  /** A queue's rate limit set by `TaskControl.setQueueLimits`, by queue. */
  queueRates: Map<string, StoredRate>;
  /** Task overrides, by task name. */
  tasks: Map<string, TaskOverrides>;
  /** +1 on every change: orders what workers know against what a queue's gates hold. */
  version: number;
}

const CONCURRENCY_FIELD = 'concurrency:';
const QUEUE_RATE_FIELD = 'rateLimit:';
const TASK_FIELD = 'task:';
const VERSION_FIELD = 'version';

/**
 * Where run-time controls live (`TaskControl` checks, this stores; `@conveyor/testing` puts
 * one in memory in its place). A queue's pause and its concurrency across workers are
 * BullMQ's own (its pause flag, its global concurrency). Other overrides are one hash,
 * `{<prefix>}:conveyor:control`, a field an override:
 *
 *   concurrency:<queue>            '4'         worker concurrency per process
 *   rateLimit:<queue>              '100/1000'  starts per window (ms), across workers
 *   task:<task>:maxConcurrent      '5'
 *   task:<task>:rateLimit          '10/1000'
 *   task:<task>:paused             'true'
 *   version                        +1 on every change, in the same transaction
 *
 * and a channel on which a change is announced. A message only says that something changed:
 * a worker then reads the whole hash, so a message that is lost, or read out of order, never
 * leaves a value behind. One key, in the app's hash tag: single-key commands only, as on a
 * Redis Cluster they must be.
 */
@Injectable()
export class ControlStore {
  constructor(
    private readonly queues: ConveyorQueues,
    private readonly redis: RedisConnections,
  ) {}

  /** The hash of overrides. */
  get key(): string {
    return this.queues.keys.appKey('control');
  }

  /** The channel on which changes are announced. */
  get channel(): string {
    return this.queues.keys.appKey('control-changed');
  }

  /** Every override now in Redis, within `enqueueTimeout`. */
  async read(): Promise<StoredControls> {
    return parseControls(await this.queues.send(() => this.redis.client.hgetall(this.key)));
  }

  async setConcurrency(queue: string, concurrency: number): Promise<void> {
    await this.write(CONCURRENCY_FIELD + queue, String(concurrency));
  }

  async resetConcurrency(queue: string): Promise<void> {
    await this.write(CONCURRENCY_FIELD + queue, undefined);
  }

  /** Sets (or, with `undefined`, removes) a queue's run-time rate limit. */
  async setQueueRate(queue: string, rate: StoredRate | undefined): Promise<void> {
    await this.write(QUEUE_RATE_FIELD + queue, rate && `${rate.max}/${rate.perMs}`);
  }

  /**
   * Sets (or, with `undefined`, removes) one override of a task. Returns the version of the
   * change, which the gates of its queues are opened at.
   */
  async setTask<K extends keyof TaskOverrides>(
    task: string,
    override: K,
    value: TaskOverrides[K] | undefined,
  ): Promise<number> {
    const stored =
      value === undefined || value === false
        ? undefined
        : typeof value === 'object'
          ? `${value.max}/${value.perMs}`
          : String(value);
    return this.write(`${TASK_FIELD}${task}:${override}`, stored);
  }

  /** BullMQ's global concurrency of a queue: runs at once across every worker process. */
  async setQueueMaxConcurrent(queue: string, max: number | undefined): Promise<void> {
    await this.queues.send(() =>
      max === undefined
        ? this.queues.queue(queue).removeGlobalConcurrency()
        : this.queues.queue(queue).setGlobalConcurrency(max),
    );
  }

  /** Each queue's global concurrency, in order (`undefined`: none). */
  async queueMaxConcurrent(queues: readonly string[]): Promise<(number | undefined)[]> {
    return this.queues.send(() =>
      Promise.all(
        queues.map(async (queue) => {
          const value = await this.queues.queue(queue).getGlobalConcurrency();
          return value === null || value === undefined ? undefined : Number(value);
        }),
      ),
    );
  }

  /** BullMQ's global pause of a queue: no worker of any process takes its jobs. */
  async pause(queue: string): Promise<void> {
    await this.queues.send(() => this.queues.queue(queue).pause());
  }

  async resume(queue: string): Promise<void> {
    await this.queues.send(() => this.queues.queue(queue).resume());
  }

  /** Whether each queue is paused, in order. */
  async paused(queues: readonly string[]): Promise<boolean[]> {
    return this.queues.send(() =>
      Promise.all(queues.map((queue) => this.queues.queue(queue).isPaused())),
    );
  }

  /**
   * Sets (or removes) one field and counts the change in one transaction, then announces it.
   * Returns the new version.
   */
  private async write(field: string, value: string | undefined): Promise<number> {
    const replies = await this.queues.send(() => {
      const multi = this.redis.client.multi();
      if (value === undefined) multi.hdel(this.key, field);
      else multi.hset(this.key, field, value);
      return multi.hincrby(this.key, VERSION_FIELD, 1).exec();
    });
    const failed = replies?.find(([error]) => error);
    if (!replies || failed) throw failed?.[0] ?? new Error('the change was not applied');
    const version = Number(replies[1][1]);
    await this.queues.send(() =>
      this.redis.client.publish(this.channel, JSON.stringify({ field, version })),
    );
    return version;
  }
}

/**
 * Reads the hash's fields. Fields this version does not know (a later version's) and values
 * that are not valid are skipped: a worker keeps its declared values for them.
 */
export function parseControls(fields: Record<string, string>): StoredControls {
  const controls: StoredControls = {
    concurrency: new Map(),
    queueRates: new Map(),
    tasks: new Map(),
    version: Number(fields[VERSION_FIELD]) || 0,
  };
  for (const [field, value] of Object.entries(fields)) {
    if (field.startsWith(CONCURRENCY_FIELD)) {
      const n = Number(value);
      if (Number.isInteger(n) && n >= 1 && n <= MAX_CONCURRENCY) {
        controls.concurrency.set(field.slice(CONCURRENCY_FIELD.length), n);
      }
    } else if (field.startsWith(QUEUE_RATE_FIELD)) {
      const rate = parseRate(value);
      if (rate) controls.queueRates.set(field.slice(QUEUE_RATE_FIELD.length), rate);
    } else if (field.startsWith(TASK_FIELD)) {
      const at = field.lastIndexOf(':');
      const task = field.slice(TASK_FIELD.length, at);
      const overrides = controls.tasks.get(task) ?? {};
      const override = field.slice(at + 1);
      const n = Number(value);
      if (override === 'maxConcurrent' && isCount(n)) overrides.maxConcurrent = n;
      else if (override === 'rateLimit' && parseRate(value)) overrides.rateLimit = parseRate(value);
      else if (override === 'paused' && value === 'true') overrides.paused = true;
      else continue;
      controls.tasks.set(task, overrides);
    }
  }
  return controls;
}

function parseRate(value: string): StoredRate | undefined {
  const [max, perMs] = value.split('/').map(Number);
  return isCount(max) && isCount(perMs) ? { max, perMs } : undefined;
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1;
}

/** The highest queue concurrency, as `TasksModule.forRoot({ queues })` accepts it. */
export const MAX_CONCURRENCY = 10_000;
