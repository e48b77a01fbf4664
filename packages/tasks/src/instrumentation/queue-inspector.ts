import { Inject, Injectable } from '@nestjs/common';
import type { ChainableCommander } from 'ioredis';
import { ControlStore } from '../control/control-store';
import { InvalidTaskOptionsError } from '../errors';
import type { ResolvedModuleOptions } from '../options/module-options';
import { RedisConnections } from '../redis/redis-connections';
import { RESOLVED_TASKS_OPTIONS } from '../tasks.constants';
import { TasksRegistry } from '../tasks.registry';
import {
  MAX_TENANT_LIMIT,
  TENANTS_SCRIPT,
  tenantPage,
  type TenantPage,
  type TenantQuery,
  type TenantsReply,
} from './queue-tenants';

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

// One script per queue, all of them in one pipeline: the counts of every state, and the
// `timestamp` of the job at the head of `wait` (its tail: BullMQ pushes on the left). Keys are
// derived from the queue's key prefix, which carries the prefix's hash tag, so every key is
// in one slot and this holds on Redis Cluster too. Sent as EVALSHA (ioredis loads it once).
const QUEUE_STATS_SCRIPT = `
local k = KEYS[1]
local id = redis.call('LINDEX', k .. 'wait', -1)
local oldest = false
if id then oldest = redis.call('HGET', k .. id, 'timestamp') end
return {
  redis.call('LLEN', k .. 'wait') + redis.call('LLEN', k .. 'paused') + redis.call('ZCARD', k .. 'prioritized'),
  redis.call('LLEN', k .. 'active'),
  redis.call('ZCARD', k .. 'delayed'),
  redis.call('ZCARD', k .. 'completed'),
  redis.call('ZCARD', k .. 'failed'),
  redis.call('ZCARD', k .. 'waiting-children'),
  oldest,
}`;
const COMMAND = 'conveyorQueueStats';
const TENANTS_COMMAND = 'conveyorQueueTenants';
const DEFAULT_TENANT_LIMIT = 200;

type StatsReply = [number, number, number, number, number, number, string | null];
type WithStats<T> = T & { [COMMAND](queueKey: string): T };

/**
 * Reads every queue's counts in one pipelined round trip on the producer connection: one
 * script call per queue, all sent together, so a health check or a metrics scrape does not
 * grow in round trips with the number of queues (BullMQ's `getJobCounts` is one round trip
 * per queue). Measured on loopback with 50 queues: ~1 ms a snapshot, against ~1.5 ms for 50
 * concurrent `getJobCounts` and ~2.5 ms for a pipeline of plain LLEN/ZCARD commands.
 */
@Injectable()
export class QueueInspector {
  constructor(
    private readonly redis: RedisConnections,
    private readonly registry: TasksRegistry,
    @Inject(RESOLVED_TASKS_OPTIONS) private readonly options: ResolvedModuleOptions,
    private readonly controls: ControlStore,
  ) {}

  /** Queues this app knows: declared ones and those its handlers route to. */
  queueNames(): string[] {
    return this.registry.knownQueues();
  }

  /** Round-trip time of a PING on the producer connection, in ms (for health checks). */
  async ping(): Promise<number> {
    const started = performance.now();
    await this.redis.client.ping();
    return Math.round((performance.now() - started) * 100) / 100;
  }

  async snapshot(queues: readonly string[] = this.queueNames()): Promise<QueueSnapshot[]> {
    if (!queues.length) return [];
    const client = this.redis.client;
    if (!(COMMAND in client)) {
      client.defineCommand(COMMAND, { numberOfKeys: 1, lua: QUEUE_STATS_SCRIPT });
    }
    const keys = queues.map((queue) => this.options.keys.queueKey(queue));
    let replies: [Error | null, unknown][];
    if (this.redis.cluster) {
      // A cluster's pipeline must stay on one node: one call a queue, sent together.
      const stats = client as unknown as WithStats<Record<string, never>>;
      replies = await Promise.all(
        keys.map((key) =>
          (stats[COMMAND](key) as unknown as Promise<unknown>).then(
            (reply): [null, unknown] => [null, reply],
            (error: Error): [Error, unknown] => [error, undefined],
          ),
        ),
      );
    } else {
      const pipeline = client.pipeline() as WithStats<ChainableCommander>;
      for (const key of keys) pipeline[COMMAND](key);
      replies = (await pipeline.exec()) ?? [];
    }
    const now = Date.now();
    return queues.map((queue, i) => {
      const [error, reply] = replies[i] ?? [new Error('no reply')];
      if (error) throw error;
      const [waiting, active, delayed, completed, failed, children, oldest] = reply as StatsReply;
      return {
        queue,
        waiting,
        active,
        delayed,
        completed,
        failed,
        'waiting-children': children,
        oldestWaitingAgeMs: oldest ? Math.max(0, now - Number(oldest)) : 0,
      };
    });
  }

  /**
   * The keys of `queue`'s `concurrencyKey` and `lock` tasks that have a backlog or run now,
   * with each key's running jobs, its limit and its parked jobs (its backlog), in every worker
   * process. Bounded, in one script call on the queue's hash slot: one `HSCAN` step of the
   * queue's lines (`<queue key>cv:scopes`, a key per line of parked jobs) and, on the first
   * page, the first `limit` active jobs, whose stored key names the keys that run with no
   * backlog; never `KEYS` or a whole `SCAN`. Pass the answer's `cursor` to read the next lines
   * (`null`: none left); the sort (most parked first) holds within a page.
   *
   * Jobs that no worker has fetched yet sit in BullMQ's `wait` list with no index by key:
   * counting them per key would read every waiting job, so they count in the queue's
   * `waiting` only. A key over its limit parks its jobs as workers meet them (and looks ahead
   * at the next ones in line), so its backlog shows up in `parked`.
   *
   * @example
   * const page = await inspector.tenants('imports', { limit: 100 });
   * for (const t of page.tenants) console.log(t.task, t.key, t.running, t.limit, t.parked);
   * if (page.cursor) await inspector.tenants('imports', { cursor: page.cursor });
   */
  async tenants(queue: string, query: TenantQuery = {}): Promise<TenantPage> {
    const limit = query.limit ?? DEFAULT_TENANT_LIMIT;
    const cursor = query.cursor ?? '0';
    if (typeof queue !== 'string' || queue === '') {
      throw new InvalidTaskOptionsError(undefined, 'tenants() needs a queue name');
    }
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_TENANT_LIMIT) {
      throw new InvalidTaskOptionsError(
        undefined,
        `tenants() limit must be an integer from 1 to ${MAX_TENANT_LIMIT}, got ${String(limit)}`,
      );
    }
    if (typeof cursor !== 'string' || !/^\d{1,20}$/.test(cursor)) {
      throw new InvalidTaskOptionsError(
        undefined,
        'tenants() cursor must be the cursor a previous page returned',
      );
    }
    const client = this.redis.client;
    if (!(TENANTS_COMMAND in client)) {
      client.defineCommand(TENANTS_COMMAND, { numberOfKeys: 1, lua: TENANTS_SCRIPT });
    }
    const key = this.options.keys.queueKey(queue);
    const read = (client as unknown as WithTenants)[TENANTS_COMMAND];
    const [reply, stored] = await Promise.all([
      read.call(client, `${key}cv:scopes`, key, cursor, limit),
      this.controls.read(),
    ]);
    const tasks = this.registry.all();
    return tenantPage(queue, reply, tasks, (name) => {
      const task = tasks.find((t) => t.name === name);
      if (!task) return undefined;
      const overrides = task.options.exclusive ? {} : (stored.tasks.get(name) ?? {});
      return {
        maxConcurrent: overrides.maxConcurrent ?? task.options.maxConcurrent,
        rateLimit: overrides.rateLimit ?? task.options.rateLimit,
      };
    });
  }
}

type WithTenants = Record<
  typeof TENANTS_COMMAND,
  (scopesKey: string, queueKey: string, cursor: string, limit: number) => Promise<TenantsReply>
>;
