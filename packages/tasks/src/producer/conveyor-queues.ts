import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { type ConnectionOptions, Queue, QueueEvents } from 'bullmq';
import { CLOSE_GRACE_MS, settleWithin } from '../lifecycle/settle-within';
import type { ResolvedModuleOptions } from '../options/module-options';
import type { KeyLayout } from '../redis/key-layout';
import type { RedisClient } from '../redis/open-connection';
import { quit, RedisConnections } from '../redis/redis-connections';
import { RedisUnavailable } from '../redis/redis-unavailable';
import { RESOLVED_TASKS_OPTIONS } from '../tasks.constants';
import { ConveyorLogger, errorField } from '../logging/conveyor-logger';
import { SearchIndex } from '../search/search-index';

/**
 * BullMQ `Queue` objects (one per queue name, sharing one Redis client) and `QueueEvents`
 * listeners (created only when someone waits for a result). Closes them last on shutdown,
 * after the workers, since handlers still running may enqueue follow-up work.
 */
@Injectable()
export class ConveyorQueues implements OnApplicationShutdown {
  private readonly logger = new ConveyorLogger('Conveyor');
  private readonly queues = new Map<string, Queue>();
  private readonly events = new Map<string, EventsEntry>();
  private readonly lastEventsErrorLog = new Map<string, number>();
  private searchIndexInstance?: SearchIndex;

  constructor(
    @Inject(RESOLVED_TASKS_OPTIONS) private readonly options: ResolvedModuleOptions,
    private readonly redis: RedisConnections,
  ) {}

  /** Where each queue's keys live. */
  get keys(): KeyLayout {
    return this.options.keys;
  }

  /** The payload-field index of tasks with `searchable` fields, on the producer connection. */
  get searchIndex(): SearchIndex {
    return (this.searchIndexInstance ??= new SearchIndex(this.redis.client, this.options.keys));
  }

  /**
   * Resolves once the producer connection answers; rejects with Redis's own error otherwise,
   * or with `RedisUnavailable` (naming what the connection last reported) after
   * `enqueueTimeout`. Free once the connection is ready.
   */
  reachable(): Promise<void> {
    return this.send(() => Promise.resolve());
  }

  /**
   * Runs a producer call within `enqueueTimeout`. BullMQ's `add` waits for a first 'ready'
   * and never gives up while the connection cannot get there (a wrong password, a Redis that
   * was never up), so while it is not ready a PING goes first: it fails with Redis's own
   * refusal (NOAUTH, WRONGPASS). A call that runs out of time, or that ioredis gives up on,
   * rejects with `RedisUnavailable`, whose `cause` is what the connection last reported.
   * One timer a call, and no PING once the connection is ready.
   */
  send<T>(call: () => Promise<T>): Promise<T> {
    const client = this.redis.client;
    const ms = this.options.enqueueTimeoutMs;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new RedisUnavailable(
              `no answer after ${ms} ms (enqueueTimeout)`,
              this.redis.lastError(client),
            ),
          ),
        ms,
      );
      let running: Promise<T>;
      try {
        running = client.status === 'ready' ? call() : client.ping().then(call);
      } catch (error) {
        running = Promise.reject(error);
      }
      running.then(
        (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        (error: unknown) => {
          clearTimeout(timer);
          reject(this.explain(client, error));
        },
      );
    });
  }

  /** ioredis's "max retries" says nothing of why: name the connection's last error instead. */
  private explain(client: RedisClient, error: unknown): unknown {
    if ((error as Error)?.name !== 'MaxRetriesPerRequestError') return error;
    return new RedisUnavailable(
      'ioredis gave up after maxRetriesPerRequest',
      this.redis.lastError(client),
    );
  }

  /** Whether the producer connection is up, so that `reachable()` can be skipped. */
  get ready(): boolean {
    return this.redis.client.status === 'ready';
  }

  queue(name: string): Queue {
    let queue = this.queues.get(name);
    if (!queue) {
      queue = new Queue(name, {
        connection: this.redis.client,
        prefix: this.options.keys.prefixOf(name),
      });
      // Errors also surface as rejected calls; the listener keeps EventEmitter from throwing.
      queue.on('error', () => undefined);
      this.queues.set(name, queue);
    }
    return queue;
  }

  /**
   * A running `QueueEvents` for the queue, ready to deliver events. One a queue, made on first
   * use; one that cannot get ready is closed (its connection would stay open, reconnecting)
   * and the next call tries again.
   */
  async queueEvents(name: string): Promise<QueueEvents> {
    let entry = this.events.get(name);
    if (!entry) {
      const created: EventsEntry = (entry = { closed: false } as EventsEntry);
      created.ready = (async () => {
        // QueueEvents starts reading at '$' only when its first XREAD runs, after
        // waitUntilReady() resolves: a job finishing in between would never be reported and
        // its result() would wait until its timeout. Start from the stream's current end.
        const [last] = await this.redis.client.xrevrange(
          `${this.options.keys.queueKey(name)}events`,
          '+',
          '-',
          'COUNT',
          1,
        );
        if (created.closed) throw new Error('the application is shutting down');
        // Settings, not a client: QueueEvents would duplicate a client (it blocks on its
        // connection) and leave the original open; from settings it makes one connection and
        // closes it with itself. A cluster has no settings BullMQ can open: it gets a
        // connection, which closes after it. (The cast: BullMQ's copy of ioredis's option
        // types is narrower; the values are ioredis's own.)
        const overrides = { maxRetriesPerRequest: null };
        const settings = this.redis.settings('events', overrides);
        if (!settings) created.connection = this.redis.create('events', overrides);
        const events = (created.events = new QueueEvents(name, {
          connection: (settings ?? created.connection) as ConnectionOptions,
          prefix: this.options.keys.prefixOf(name),
          lastEventId: last?.[0] ?? '0-0',
          // Run once ready: a read loop on a connection that never got ready retries on a
          // 5 s timer of its own, which would outlive the close.
          autorun: false,
        }));
        events.on('error', (error: Error) => this.logEventsError(name, error));
        try {
          await events.waitUntilReady();
        } catch (error) {
          await closeEvents(created);
          throw error;
        }
        events.run().catch((error: Error) => this.logEventsError(name, error));
        return events;
      })();
      this.events.set(name, created);
      created.ready.catch(() => {
        if (this.events.get(name) === created) this.events.delete(name);
      });
    }
    return entry.ready;
  }

  private logEventsError(queue: string, error: Error): void {
    // A down Redis reports on every reconnect attempt; once every 10 s a queue is enough.
    const now = Date.now();
    if (now - (this.lastEventsErrorLog.get(queue) ?? 0) < 10_000) return;
    this.lastEventsErrorLog.set(queue, now);
    this.logger.error(`events of queue '${queue}': ${error.message}`, {
      queue,
      error: errorField(error),
    });
  }

  /** Closes every queue, event listener and connection, each bounded (Redis may be down). */
  async onApplicationShutdown(): Promise<void> {
    const events = [...this.events.values()];
    this.events.clear();
    const queues = [...this.queues.values()];
    this.queues.clear();
    await Promise.all([
      ...events.map((entry) => closeEvents(entry)),
      ...queues.map((queue) =>
        settleWithin(queue.close(), CLOSE_GRACE_MS, () => queue.disconnect()),
      ),
    ]);
    // Also ends a QueueEvents still being set up: its XREVRANGE fails on the closed client.
    await this.redis.close();
  }
}

/** One queue's `QueueEvents`, from the moment it exists (so shutdown can close it). */
interface EventsEntry {
  ready: Promise<QueueEvents>;
  events?: QueueEvents;
  /** The connection it was given (a cluster's), closed after it. */
  connection?: RedisClient;
  closed: boolean;
}

async function closeEvents(entry: EventsEntry): Promise<void> {
  entry.closed = true;
  const { events } = entry;
  if (events) {
    await settleWithin(events.close(), CLOSE_GRACE_MS, () => events.disconnect());
    // QueueEvents.close() disconnects first, and that awaits a connection that got ready: one
    // that never did (a refused INFO, say) stays open, reconnecting. Closing the backend by
    // force disconnects it; after a close that worked it is the same, finished close.
    await settleWithin(events.getBackend().close(true), CLOSE_GRACE_MS);
  }
  await quit(entry.connection);
}
