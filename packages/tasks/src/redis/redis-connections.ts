import { Inject, Injectable } from '@nestjs/common';
import type { RedisOptions } from 'ioredis';
import { CLOSE_GRACE_MS, settleWithin } from '../lifecycle/settle-within';
import { openConnection, type RedisClient } from './open-connection';
import type { ResolvedModuleOptions } from '../options/module-options';
import { RESOLVED_TASKS_OPTIONS } from '../tasks.constants';
import { ConveyorLogger, errorField } from '../logging/conveyor-logger';

/**
 * The module's Redis clients, created on first use and shared by every queue and worker:
 *
 * - `client`: producers and queue reads. ioredis's default `maxRetriesPerRequest` (20)
 *   applies, so an enqueue during an outage fails with an error instead of hanging forever.
 * - `workerClient`: non-blocking worker commands. BullMQ requires `maxRetriesPerRequest: null`
 *   here, so a worker rides out a Redis restart instead of crashing.
 *
 * `create()` makes a connection for a consumer that needs its own (the cancel subscriber, the
 * workflow worker), closed by that consumer. Each BullMQ worker and QueueEvents also opens
 * its own blocking connection (BullMQ's design), a duplicate of the one it was given. All of
 * them are `ConveyorRedis` (or, given a cluster, ioredis `Cluster`s). `ConveyorQueues`
 * closes the two shared ones on shutdown, after the queues that use them.
 */
@Injectable()
export class RedisConnections {
  private readonly logger = new ConveyorLogger('Conveyor');
  private clientInstance?: RedisClient;
  private workerClientInstance?: RedisClient;
  private lastErrorLog = 0;
  private readonly lastErrors = new WeakMap<RedisClient, Error>();

  constructor(@Inject(RESOLVED_TASKS_OPTIONS) private readonly options: ResolvedModuleOptions) {}

  /** Whether the app's connection is a Redis Cluster. */
  get cluster(): boolean {
    return this.options.connection.cluster !== undefined;
  }

  get client(): RedisClient {
    return (this.clientInstance ??= this.create('producer', {}));
  }

  get workerClient(): RedisClient {
    return (this.workerClientInstance ??= this.create('worker', { maxRetriesPerRequest: null }));
  }

  /** A new connection with the module's settings, for a consumer that needs its own. */
  create(role: string, overrides: RedisOptions): RedisClient {
    const redis = openConnection(this.options.connection, role, overrides);
    redis.on('error', (error: Error) => {
      this.lastErrors.set(redis, error);
      this.logConnectionError(role, error);
    });
    redis.on('ready', () => this.lastErrors.delete(redis));
    return redis;
  }

  /**
   * The module's connection settings (with `url` when one was given), for BullMQ classes that
   * make and own their connection: they close it with themselves. `undefined` for a cluster,
   * which BullMQ cannot open from settings: give such a class a `create()`d connection.
   */
  settings(role: string, overrides: RedisOptions): (RedisOptions & { url?: string }) | undefined {
    const connection = this.options.connection;
    if (connection.cluster) return undefined;
    return {
      url: connection.url,
      connectionName: `conveyor:${role}`,
      ...connection.options,
      ...overrides,
    };
  }

  /**
   * What `redis` last reported since it was last ready (ECONNREFUSED, NOAUTH, …): the cause
   * behind a command that timed out or that ioredis gave up on.
   */
  lastError(redis: RedisClient): Error | undefined {
    return this.lastErrors.get(redis);
  }

  /** Closes both clients; safe to call more than once. */
  async close(): Promise<void> {
    await Promise.all([quit(this.clientInstance), quit(this.workerClientInstance)]);
    this.clientInstance = this.workerClientInstance = undefined;
  }

  private logConnectionError(role: string, error: Error): void {
    // A down Redis reports on every reconnect attempt; once every 10 s is enough to notice.
    const now = Date.now();
    if (now - this.lastErrorLog < 10_000) return;
    this.lastErrorLog = now;
    this.logger.error(`Redis (${role} connection): ${error.message}`, {
      connection: role,
      error: errorField(error),
    });
  }
}

/**
 * Closes a connection: QUIT when it is up (pending replies arrive first), bounded by
 * `graceMs`, then a disconnect. A connection that is not up has nothing to flush, and its
 * QUIT would wait in the offline queue for a Redis that may never come back: disconnect now.
 */
export async function quit(
  redis: RedisClient | undefined,
  graceMs = CLOSE_GRACE_MS,
): Promise<void> {
  if (!redis || redis.status === 'end') return;
  if (redis.status !== 'ready') return redis.disconnect();
  await settleWithin(redis.quit(), graceMs, () => redis.disconnect());
}
