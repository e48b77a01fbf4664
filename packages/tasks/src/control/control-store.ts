import { Injectable } from '@nestjs/common';
import { ConveyorQueues } from '../producer/conveyor-queues';
import { RedisConnections } from '../redis/redis-connections';

/** Run-time overrides as stored in Redis, by queue. */
export interface StoredControls {
  /** Worker concurrency set by `TaskControl.setConcurrency`, by queue. */
  concurrency: Map<string, number>;
}

const CONCURRENCY_FIELD = 'concurrency:';

/**
 * Where run-time controls live (`TaskControl` checks, this stores; `@conveyor/testing` puts
 * one in memory in its place): a queue's pause is BullMQ's own flag; overrides are one hash, `{<prefix>}:conveyor:control`, a field an override
 * (`concurrency:<queue>` → `'4'`), and a channel on which a change is announced. A message
 * only says that something changed: a worker then reads the whole hash, so a message that is
 * lost, or read out of order, never leaves a value behind. One key, in the app's hash tag:
 * single-key commands only, as on a Redis Cluster they must be.
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
    const field = CONCURRENCY_FIELD + queue;
    await this.queues.send(() => this.redis.client.hset(this.key, field, String(concurrency)));
    await this.announce(queue);
  }

  async resetConcurrency(queue: string): Promise<void> {
    await this.queues.send(() => this.redis.client.hdel(this.key, CONCURRENCY_FIELD + queue));
    await this.announce(queue);
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

  private async announce(queue: string): Promise<void> {
    await this.queues.send(() =>
      this.redis.client.publish(this.channel, JSON.stringify({ queue })),
    );
  }
}

/**
 * Reads the hash's fields. Fields this version does not know (a later version's) and values
 * that are not a valid concurrency are skipped: a worker keeps its declared value for them.
 */
export function parseControls(fields: Record<string, string>): StoredControls {
  const concurrency = new Map<string, number>();
  for (const [field, value] of Object.entries(fields)) {
    if (!field.startsWith(CONCURRENCY_FIELD)) continue;
    const n = Number(value);
    if (Number.isInteger(n) && n >= 1 && n <= MAX_CONCURRENCY) {
      concurrency.set(field.slice(CONCURRENCY_FIELD.length), n);
    }
  }
  return { concurrency };
}

/** The highest queue concurrency, as `TasksModule.forRoot({ queues })` accepts it. */
export const MAX_CONCURRENCY = 10_000;
