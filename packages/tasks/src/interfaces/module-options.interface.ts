import type { WorkflowDefinition } from '../durable/define-workflow';
import type { Cluster, ClusterNode, ClusterOptions, RedisOptions } from 'ioredis';
import type { Duration } from './duration.interface';
import type { EnqueueOptions } from './enqueue-options.interface';
import type { TaskHooks } from './task-hooks.interface';
import type { TaskDefaults } from './task-options.interface';
import type { TaskIsolation, TaskThreadsOptions } from './thread-options.interface';

/**
 * Where Redis is: a URL (`redis://`, `rediss://` for TLS), ioredis options (with `sentinels`
 * and `name` for Redis Sentinel), or both; or a Redis Cluster, as startup nodes and ioredis
 * `ClusterOptions`, or as an ioredis `Cluster`, whose nodes and options Conveyor opens its
 * own connections with (the instance itself stays yours to close).
 */
export type RedisConnection =
  | string
  | RedisOptions
  | ({ url: string } & RedisOptions)
  | { cluster: { nodes: ClusterNode[]; options?: ClusterOptions } }
  | Cluster;

/** A rate limit: at most `max` job starts per `per`, counted across all workers. */
export interface RateLimit {
  max: number;
  per: Duration;
}

/**
 * A rate limit in Celery's notation: at most N starts per second, minute or hour (`'10/s'`,
 * `'100/m'`, `'1000/h'`). Any string type-checks (a value read from the environment is a
 * `string`); it is checked at startup and a bad one fails with an error naming the option.
 */
export type RateLimitString = `${number}/${'s' | 'm' | 'h'}` | (string & {});

/** Options of one queue. */
export interface QueueOptions {
  /** Jobs this process runs at once from this queue. @default 1 */
  concurrency?: number;
  /**
   * Job starts allowed per period from this queue, across every worker process:
   * `{ max, per }` or `'10/s'`, `'100/m'`, `'1000/h'`.
   */
  rateLimit?: RateLimit | RateLimitString;
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
  /**
   * With `hashTags: 'queue'`, the hash tag this queue's keys share, in place of its own name:
   * give it to the queues that one workflow spans (a workflow's jobs must share one slot on
   * Redis Cluster). Letters, digits and `. _ -`. @default the queue's name
   */
  hashTag?: string;
  /**
   * Where the handlers of this queue's tasks run, unless a task sets its own `isolation`:
   * `'thread'` needs `TasksModule.forRoot({ threads })`. @default 'inline'
   */
  isolation?: TaskIsolation;
}

/**
 * Where a route sends a task's jobs: a queue, or a queue and the jobs' priority there (1 is
 * the highest; an enqueue's own `priority` still wins).
 */
export type RouteTarget = string | { queue: string; priority?: number };

/**
 * Routes one job by its content (a tenant's plan, a region): return a declared queue, or
 * `{ queue, priority }`, or `undefined` to leave the job to `routes` and the task's `queue`.
 * Called at every enqueue (direct, outbox, workflow step) without a call-site `queue`; a step
 * that takes the previous step's result is routed with the payload `undefined`.
 */
export type TaskRouter = (
  task: string,
  payload: unknown,
  options: Omit<EnqueueOptions, 'queue'>,
) => RouteTarget | undefined;

/**
 * How a worker process tells the others it is alive (see `Workers`): it writes its entry to
 * Redis every `interval`, and the entry expires `ttl` after the last write.
 */
/** The run history each worker process keeps in Redis for `TaskStats` and the dashboard. */
export interface StatsOptions {
  /**
   * How often a worker process adds its figures to Redis: one script call per queue that ran
   * something, whatever the number of jobs. From 1s to 1m. @default '5s'
   */
  interval?: Duration;
  /** How much history is kept, in whole minutes. From 5m to 6h. @default '1h' */
  retention?: Duration;
}

export interface HeartbeatOptions {
  /** Time between two writes of this process's entry. From 100ms to 5m. @default '5s' */
  interval?: Duration;
  /**
   * How long an entry outlives its last write: a process that stopped writing (SIGKILL, a lost
   * host) drops out of `Workers.list()` this long after its last beat. At least twice
   * `interval`, at most 1h. @default three times `interval`
   */
  ttl?: Duration;
}

/**
 * A small HTTP server (`node:http`, no Express) for the probes of a worker-only process:
 * `GET /live` answers while the process's event loop does, `GET /ready` while its workers run
 * and Redis answers a PING.
 */
export interface ProbeOptions {
  /** Port to listen on; `0` picks a free one (tests). */
  port: number;
  /** Address to listen on. @default '0.0.0.0' */
  host?: string;
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
  /**
   * How queues are placed in Redis Cluster hash slots. `'prefix'`: every key under one tag,
   * `{prefix}` (one slot: one master of a cluster holds the app). `'queue'`: a tag a queue,
   * `{prefix:queue}` (or a group's, `{prefix:hashTag}`), so queues spread over the masters.
   * Changing it moves every key: see the README's "Redis Cluster" section. @default 'prefix'
   */
  hashTags?: 'prefix' | 'queue';
  /** Defaults for every task's options. */
  defaults?: TaskDefaults;
  /**
   * Queues and their options. When given, every task must route to one of these queues (or
   * to `default`); when left out, any queue name is accepted with default options.
   */
  queues?: Record<string, QueueOptions>;
  /**
   * Task name globs → queue, first match wins: `{ 'email.*': 'high', 'reports.**': { queue:
   * 'low', priority: 5 } }`. A pattern's segments are separated by `.`; `*` matches one
   * segment, `**` any number of them. A route overrides the task's own `queue` (and
   * `priority`), in producers and workers alike: the process that handles a task consumes the
   * queue it is routed to. Targets must be declared when `queues` is. @default none
   */
  routes?: Record<string, RouteTarget>;
  /**
   * Chooses a job's queue by content at enqueue time; it wins over `routes`, and a call-site
   * `{ queue }` wins over it. Needs `queues`: it may only return declared queues, and a
   * process that handles tasks then consumes every declared queue. @default none
   */
  router?: TaskRouter;
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
  /**
   * How often a worker process writes its entry in the worker registry (`Workers`), and how
   * long the entry lives. @default { interval: '5s', ttl: '15s' }
   */
  heartbeat?: HeartbeatOptions;
  /**
   * Each worker process counts its runs per task (completed, failed, dead-lettered, run time
   * in buckets, failures by error) and adds them to a per-minute history in Redis every
   * `interval`, kept for `retention`: `TaskStats` and `@conveyor/dashboard` read it. `false`
   * keeps none. @default { interval: '5s', retention: '1h' }
   */
  stats?: StatsOptions | false;
  /**
   * Starts an HTTP liveness/readiness server in this process, for worker-only processes that
   * have no HTTP app of their own (Kubernetes `httpGet` probes). @default none
   */
  probe?: ProbeOptions;
  /**
   * The worker threads that run tasks with `isolation: 'thread'`: the module they boot, and
   * how many there are and when they are replaced. Required when a task or queue is isolated.
   * @default none
   */
  threads?: TaskThreadsOptions;
  /**
   * Durable workflows (`defineWorkflow()`) this process runs. Any process may start one with
   * `Workflows.start()`; those that list it (and have workers) run it. @default []
   */
  workflows?: WorkflowDefinition<never, unknown>[];
  /**
   * How long an ended durable workflow (`completed`, `failed`, `compensated`, `cancelled`)
   * keeps its state in Redis: `get()`, `result()` and the idempotency of `start({ id })` hold
   * that long. `0` keeps it until deleted. @default '7d'
   */
  workflowRetention?: Duration;
}
