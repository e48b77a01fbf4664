import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import {
  openConnection,
  RESOLVED_TASKS_OPTIONS,
  type RedisClient,
  type ResolvedModuleOptions,
  SearchIndex,
} from '@conveyor/tasks/internal';
import { Queue } from 'bullmq';

/** Redis does not answer the relay: down, refusing its password, or not connected yet. */
export class RedisUnavailableError extends Error {
  override readonly name = 'RedisUnavailableError';
}

/**
 * The relay's own Redis connection, with `TasksModule`'s settings, and BullMQ queues on it
 * (same prefix, so the same queues as `TaskProducer`'s). Its own, and without an offline
 * queue: while Redis is away a command fails at once instead of waiting in ioredis's queue,
 * where a relay that retries would pile up commands that outlive every bound it sets (and
 * hold up the `QUIT` of a shared connection at shutdown by up to a reconnect cycle, ~40 s).
 * Opened on first use; closed on shutdown, after the relay has stopped.
 */
@Injectable()
export class RelayRedis implements OnApplicationShutdown {
  private client?: RedisClient;
  private lastError?: Error;
  private readonly queues = new Map<string, Queue>();
  private searchIndexInstance?: SearchIndex;

  constructor(@Inject(RESOLVED_TASKS_OPTIONS) private readonly tasks: ResolvedModuleOptions) {}

  /**
   * Resolves once the connection is up, waiting for it at most `timeoutMs` (no command is
   * sent); rejects with `RedisUnavailableError` saying why it is not (the connection's last
   * error: `ECONNREFUSED`, `WRONGPASS` …). ioredis keeps reconnecting meanwhile, so the
   * relay recovers by itself once Redis answers again.
   */
  ready(timeoutMs: number): Promise<void> {
    const client = this.connection();
    if (client.status === 'ready') return Promise.resolve();
    return new Promise((resolve, reject) => {
      const done = (error?: Error) => {
        clearTimeout(timer);
        client.removeListener('ready', onReady);
        if (error) reject(error);
        else resolve();
      };
      const onReady = () => done();
      const timer = setTimeout(() => {
        const why = this.lastError?.message ?? `the connection is ${client.status}`;
        done(new RedisUnavailableError(`Redis is not reachable (${why})`));
      }, timeoutMs);
      client.once('ready', onReady);
    });
  }

  /** The search index of tasks with `searchable` fields, on the relay's connection. */
  get searchIndex(): SearchIndex {
    return (this.searchIndexInstance ??= new SearchIndex(this.connection(), this.tasks.keys));
  }

  /** The BullMQ queue `name` on the relay's connection. */
  queue(name: string): Queue {
    let queue = this.queues.get(name);
    if (!queue) {
      queue = new Queue(name, {
        connection: this.connection(),
        prefix: this.tasks.keys.prefixOf(name),
      });
      // Errors also surface as rejected calls; the listener keeps EventEmitter from throwing.
      queue.on('error', () => undefined);
      this.queues.set(name, queue);
    }
    return queue;
  }

  /**
   * Closes the queues and the connection, without waiting on Redis: the relay has stopped,
   * so nothing of ours is in flight, and a Redis that does not answer must not hold up the
   * process. Safe to call more than once.
   */
  async onApplicationShutdown(): Promise<void> {
    const client = this.client;
    const queues = [...this.queues.values()];
    this.client = undefined;
    this.searchIndexInstance = undefined;
    this.queues.clear();
    client?.disconnect();
    await Promise.all(queues.map((queue) => queue.close().catch(() => undefined)));
  }

  private connection(): RedisClient {
    if (this.client) return this.client;
    const client = openConnection(this.tasks.connection, 'relay', { enableOfflineQueue: false });
    // The relay reports each failed round itself (once, then every 30 s); keep the cause.
    client.on('error', (error: Error) => (this.lastError = error));
    client.on('ready', () => (this.lastError = undefined));
    return (this.client = client);
  }
}
