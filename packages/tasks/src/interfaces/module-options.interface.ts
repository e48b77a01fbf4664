import type { RedisOptions } from 'ioredis';
import type { Duration } from './duration.interface';
import type { TaskHooks } from './task-hooks.interface';
import type { TaskDefaults } from './task-options.interface';

/** A Redis URL (`redis://`, `rediss://` for TLS), ioredis options, or both. */
export type RedisConnection = string | RedisOptions | ({ url: string } & RedisOptions);

/** A rate limit: at most `max` job starts per `per`, counted across all workers. */
export interface RateLimit {
  max: number;
  per: Duration;
}

/** Options of one queue. */
export interface QueueOptions {
  /** Jobs this process runs at once from this queue. @default 1 */
  concurrency?: number;
  /** Job starts allowed per period from this queue, across every worker process. */
  rateLimit?: RateLimit;
  /**
   * How long a worker's lock on a running job lasts; it is renewed while the job runs. A worker
   * that dies (SIGKILL, lost host) gives its jobs back once their locks expire. @default '30s'
   */
  lockDuration?: Duration;
  /** How often workers look for jobs whose lock expired. @default '30s' */
  stalledInterval?: Duration;
  /**
   * How many times a job may be given back after its worker died before it is dead-lettered,
   * so a job that kills its worker cannot loop forever. @default 1
   */
  maxStalledCount?: number;
}

/** Which queues this process consumes. */
export type WorkersSelection = 'all' | 'none' | readonly string[];

/** Options of `TasksModule.forRoot()`. */
export interface TasksModuleOptions {
  /** Where Redis is. */
  connection: RedisConnection;
  /**
   * Key prefix for every queue; give each app (and each test) its own. It is wrapped in a
   * hash tag (`{prefix}`), as BullMQ requires on Redis Cluster. @default 'conveyor'
   */
  prefix?: string;
  /** Defaults for every task's options. */
  defaults?: TaskDefaults;
  /**
   * Queues and their options. When given, every task must route to one of these queues (or
   * to `default`); when left out, any queue name is accepted with default options.
   */
  queues?: Record<string, QueueOptions>;
  /**
   * Queues this process consumes: `'all'` those that have handlers here, `'none'` for an
   * API-only process, or a list. Read from `CONVEYOR_WORKERS` (`all`, `none` or `a,b`) when
   * left out. @default 'all'
   */
  workers?: WorkersSelection;
  /** How long shutdown waits for jobs in flight before it hands them back to the queue. @default '30s' */
  shutdownTimeout?: Duration;
  /**
   * How long a run holds its slot of `singleton`, `lock`, `maxConcurrent` or an idempotent
   * job without renewal, counted on Redis's clock. The worker renews it every third of this
   * while the handler runs; a worker that dies frees its slots when their leases expire.
   * From 1s to 1h. @default '30s'
   */
  leaseDuration?: Duration;
  /**
   * How long `enqueue()` and `enqueueMany()` wait for Redis before they reject with
   * `EnqueueFailedError`, whose message and `cause` name what the connection last reported
   * (`ECONNREFUSED`, `NOAUTH`, `WRONGPASS`, `MOVED`, …). @default '5s'
   */
  enqueueTimeout?: Duration;
  /** Callbacks for every task's outcomes, called after the task's own. */
  hooks?: TaskHooks;
}
