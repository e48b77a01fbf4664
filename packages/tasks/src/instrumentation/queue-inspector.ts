import { Inject, Injectable } from '@nestjs/common';
import type { ResolvedModuleOptions } from '../options/module-options';
import { RedisConnections } from '../redis/redis-connections';
import { RESOLVED_TASKS_OPTIONS } from '../tasks.constants';
import { TasksRegistry } from '../tasks.registry';

/** Job counts of one queue, read together, and the age of its oldest waiting job. */
export interface QueueSnapshot {
  queue: string;
  /** Ready to run: BullMQ's `wait` and `paused` lists plus `prioritized`. */
  waiting: number;
  active: number;
  delayed: number;
  completed: number;
  /** The dead-letter store. */
  failed: number;
  'waiting-children': number;
  /** Age in ms of the job at the head of the `wait` list; 0 when it is empty. */
  oldestWaitingAgeMs: number;
}

// The head of `wait` is its tail (BullMQ pushes on the left); its `timestamp` is when it was
// added. Read in the script so the whole snapshot is one round trip. Every key shares the
// prefix's hash tag, so this holds on Redis Cluster too.
const OLDEST_WAITING = `
local id = redis.call('LINDEX', KEYS[1], -1)
if not id then return false end
return redis.call('HGET', ARGV[1] .. id, 'timestamp')`;

const COMMANDS_PER_QUEUE = 9;

/**
 * Reads every queue's counts in one pipelined round trip on the producer connection: the
 * cost of a health check or a metrics scrape does not grow in round trips with the number
 * of queues (BullMQ's `getJobCounts` is one round trip per queue).
 */
@Injectable()
export class QueueInspector {
  constructor(
    private readonly redis: RedisConnections,
    private readonly registry: TasksRegistry,
    @Inject(RESOLVED_TASKS_OPTIONS) private readonly options: ResolvedModuleOptions,
  ) {}

  /** Queues this app knows: declared ones and those its handlers route to. */
  queueNames(): string[] {
    return [
      ...new Set([...(this.options.queues?.keys() ?? []), ...this.registry.handledQueues()]),
    ].sort();
  }

  /** Round-trip time of a PING on the producer connection, in ms (for health checks). */
  async ping(): Promise<number> {
    const started = performance.now();
    await this.redis.client.ping();
    return Math.round((performance.now() - started) * 100) / 100;
  }

  async snapshot(queues: readonly string[] = this.queueNames()): Promise<QueueSnapshot[]> {
    if (!queues.length) return [];
    const pipeline = this.redis.client.pipeline();
    for (const queue of queues) {
      const key = `${this.options.prefix}:${queue}:`;
      pipeline
        .llen(`${key}wait`)
        .llen(`${key}paused`)
        .zcard(`${key}prioritized`)
        .llen(`${key}active`)
        .zcard(`${key}delayed`)
        .zcard(`${key}completed`)
        .zcard(`${key}failed`)
        .zcard(`${key}waiting-children`)
        .eval(OLDEST_WAITING, 1, `${key}wait`, key);
    }
    const replies = (await pipeline.exec()) ?? [];
    const now = Date.now();
    return queues.map((queue, q) => {
      const at = (i: number): number => {
        const [error, value] = replies[q * COMMANDS_PER_QUEUE + i] ?? [];
        if (error) throw error;
        return Number(value ?? 0);
      };
      const oldest = at(8);
      return {
        queue,
        waiting: at(0) + at(1) + at(2),
        active: at(3),
        delayed: at(4),
        completed: at(5),
        failed: at(6),
        'waiting-children': at(7),
        oldestWaitingAgeMs: oldest > 0 ? Math.max(0, now - oldest) : 0,
      };
    });
  }
}
