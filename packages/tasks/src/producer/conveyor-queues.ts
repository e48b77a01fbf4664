import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { Queue, QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import { CLOSE_GRACE_MS, settleWithin } from '../lifecycle/settle-within';
import type { ResolvedModuleOptions } from '../options/module-options';
import { quit, RedisConnections } from '../redis/redis-connections';
import { RedisUnavailable } from '../redis/redis-unavailable';
import { RESOLVED_TASKS_OPTIONS } from '../tasks.constants';

/**
 * BullMQ `Queue` objects (one per queue name, sharing one Redis client) and `QueueEvents`
 * listeners (created only when someone waits for a result). Closes them last on shutdown,
 * after the workers, since handlers still running may enqueue follow-up work.
 */
@Injectable()
export class ConveyorQueues implements OnApplicationShutdown {
  private readonly queues = new Map<string, Queue>();
  private readonly events = new Map<string, EventsEntry>();

  constructor(
    @Inject(RESOLVED_TASKS_OPTIONS) private readonly options: ResolvedModuleOptions,
    private readonly redis: RedisConnections,
  ) {}

  get prefix(): string {
    return this.options.prefix;
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
  private explain(client: Redis, error: unknown): unknown {
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
      queue = new Queue(name, { connection: this.redis.client, prefix: this.options.prefix });
      // Errors also surface as rejected calls; the listener keeps EventEmitter from throwing.
      queue.on('error', () => undefined);
      this.queues.set(name, queue);
    }
    return queue;
  }

  /** A running `QueueEvents` for the queue, ready to deliver events. */
  async queueEvents(name: string): Promise<QueueEvents> {
    let entry = this.events.get(name);
    if (!entry) {
      const created: EventsEntry = (entry = { closed: false } as EventsEntry);
      created.ready = (async () => {
        // QueueEvents starts reading at '$' only when its first XREAD runs, after
        // waitUntilReady() resolves: a job finishing in between would never be reported and
        // its result() would wait until its timeout. Start from the stream's current end.
        const [last] = await this.redis.client.xrevrange(
          `${this.options.prefix}:${name}:events`,
          '+',
          '-',
          'COUNT',
          1,
        );
        if (created.closed) throw new Error('the application is shutting down');
        created.connection = this.redis.create('events', { maxRetriesPerRequest: null });
        const events = (created.events = new QueueEvents(name, {
          connection: created.connection,
          prefix: this.options.prefix,
          lastEventId: last?.[0] ?? '0-0',
        }));
        events.on('error', () => undefined);
        events.setMaxListeners(0);
        await events.waitUntilReady();
        return events;
      })();
      this.events.set(name, created);
      created.ready.catch(() => this.events.delete(name));
    }
    return entry.ready;
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

/** One queue's `QueueEvents`, on a connection of its own, from the moment they exist. */
interface EventsEntry {
  ready: Promise<QueueEvents>;
  events?: QueueEvents;
  connection?: Redis;
  closed: boolean;
}

async function closeEvents(entry: EventsEntry): Promise<void> {
  entry.closed = true;
  const { events, connection } = entry;
  if (events) await settleWithin(events.close(), CLOSE_GRACE_MS, () => connection?.disconnect());
  await quit(connection);
}
