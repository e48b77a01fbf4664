import type { Cluster, ClusterNode, ClusterOptions, RedisOptions } from 'ioredis';
import { isWorkflowDefinition, type WorkflowDefinition } from '../durable/define-workflow';
import { DEFAULT_RETENTION_MS } from '../durable/durable-store';
import { InvalidModuleOptionsError } from '../errors';
import type { TaskDefaults } from '../interfaces/task-options.interface';
import type {
  QueueOptions,
  TasksModuleOptions,
  WorkersSelection,
} from '../interfaces/module-options.interface';
import type { TaskHooks } from '../interfaces/task-hooks.interface';
import {
  checkIsolation,
  checkQueueName,
  checkRateLimit,
  checkTaskOptions,
  DEFAULT_QUEUE,
} from './task-options';
import { resolveThreadOptions, type ResolvedThreadOptions } from './thread-options';
import type { TaskIsolation } from '../interfaces/thread-options.interface';
import { insideConveyorThread } from '../threads/thread-env';
import { KeyLayout } from '../redis/key-layout';
import { resolveRouting, type TaskRouting } from '../routing/task-routing';
import type { ResolvedConnection } from '../redis/open-connection';
import {
  checkInteger,
  checkKnownKeys,
  checkObject,
  describe,
  type Fail,
  parseDuration,
} from './validation';

const MODULE_KEYS = [
  'connection',
  'prefix',
  'defaults',
  'queues',
  'workers',
  'shutdownTimeout',
  'leaseDuration',
  'enqueueTimeout',
  'hooks',
  'hashTags',
  'routes',
  'router',
  'heartbeat',
  'stats',
  'probe',
  'threads',
  'workflows',
  'workflowRetention',
];
const QUEUE_KEYS = [
  'concurrency',
  'rateLimit',
  'lockDuration',
  'stalledInterval',
  'maxStalledCount',
  'hashTag',
  'isolation',
];
const PREFIX_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

export interface ResolvedQueueOptions {
  concurrency: number;
  rateLimit?: { max: number; durationMs: number };
  lockDurationMs?: number;
  stalledIntervalMs?: number;
  maxStalledCount?: number;
  /** The queue's default for its tasks' `isolation`; `undefined`: `'inline'`. */
  isolation?: TaskIsolation;
}

/** Module options checked once at startup, with defaults applied. */
export interface ResolvedModuleOptions {
  connection: ResolvedConnection;
  /** Where each queue's keys live (BullMQ prefixes, hash tags). */
  keys: KeyLayout;
  defaults: TaskDefaults;
  /** `undefined` when the app declares no queues (any name goes). */
  queues: Map<string, ResolvedQueueOptions> | undefined;
  workers: WorkersSelection;
  shutdownTimeoutMs: number;
  /** How long a run's slot lease lasts on Redis time; renewed every third of it. */
  leaseMs: number;
  enqueueTimeoutMs: number;
  hooks: TaskHooks;
  /** `routes` and `router`: where each task's jobs go. */
  routing: TaskRouting;
  /** How often a worker process writes its registry entry, and how long the entry lives. */
  heartbeat: { intervalMs: number; ttlMs: number };
  /** The run history workers keep for `TaskStats`; `false` when the app keeps none. */
  stats: { intervalMs: number; retentionMinutes: number } | false;
  /** Where the probe server listens; `undefined` when the app asks for none. */
  probe: { port: number; host: string } | undefined;
  /** The worker threads of isolated tasks; `undefined` when the app runs none. */
  threads?: ResolvedThreadOptions;
  /** Durable workflows this process runs, with distinct names. */
  workflows: WorkflowDefinition[];
  /** How long an ended durable workflow's state stays in Redis; 0 keeps it. */
  workflowRetentionMs: number;
}

export const DEFAULT_QUEUE_OPTIONS: ResolvedQueueOptions = { concurrency: 1 };

export function resolveModuleOptions(
  options: TasksModuleOptions,
  env: NodeJS.ProcessEnv = process.env,
): ResolvedModuleOptions {
  const fail: Fail = (problem) => {
    throw new InvalidModuleOptionsError(problem);
  };
  const o = checkObject(options, 'options', fail);
  checkKnownKeys(o, MODULE_KEYS, '', fail);

  const prefix = o.prefix ?? 'conveyor';
  if (typeof prefix !== 'string' || !PREFIX_PATTERN.test(prefix)) {
    fail(`prefix must be 1–100 characters of letters, digits and . _ -; got ${describe(prefix)}`);
  }

  checkTaskOptions(o.defaults, 'defaults', fail, false);

  const hashTags = o.hashTags ?? 'prefix';
  if (hashTags !== 'prefix' && hashTags !== 'queue') {
    fail(`hashTags must be 'prefix' or 'queue', got ${describe(hashTags)}`);
  }

  let queues: Map<string, ResolvedQueueOptions> | undefined;
  const groups = new Map<string, string>();
  if (o.queues !== undefined) {
    queues = new Map([[DEFAULT_QUEUE, DEFAULT_QUEUE_OPTIONS]]);
    for (const [name, value] of Object.entries(checkObject(o.queues, 'queues', fail))) {
      checkQueueName(name, `queue name '${name}'`, fail);
      const hashTag = (value as { hashTag?: unknown } | undefined)?.hashTag;
      if (hashTag !== undefined) {
        if (hashTags !== 'queue') {
          fail(
            `queues.${name}.hashTag needs hashTags: 'queue' (with 'prefix', every queue shares the app's tag)`,
          );
        }
        if (typeof hashTag !== 'string' || !PREFIX_PATTERN.test(hashTag)) {
          fail(
            `queues.${name}.hashTag must be 1–100 characters of letters, digits and . _ -; got ${describe(hashTag)}`,
          );
        }
        groups.set(name, hashTag as string);
      }
      queues.set(name, resolveQueueOptions(value, `queues.${name}`, fail));
    }
  }

  const threads = resolveThreadOptions(o.threads, fail);

  return {
    connection: resolveConnection(o.connection, fail),
    keys: new KeyLayout(prefix as string, hashTags, groups),
    defaults: (o.defaults as TaskDefaults | undefined) ?? {},
    queues,
    // A thread's TasksModule only lends its providers to the thread's handlers.
    workers: insideConveyorThread()
      ? 'none'
      : resolveWorkers(o.workers, env.CONVEYOR_WORKERS, fail),
    shutdownTimeoutMs:
      o.shutdownTimeout === undefined
        ? 30_000
        : parseDuration(o.shutdownTimeout, 'shutdownTimeout', fail),
    leaseMs: resolveLease(o.leaseDuration, fail),
    enqueueTimeoutMs: resolveEnqueueTimeout(o.enqueueTimeout, fail),
    hooks: resolveHooks(o.hooks, fail),
    routing: resolveRouting(o.routes, o.router, queues, fail),
    heartbeat: resolveHeartbeat(o.heartbeat, fail),
    stats: resolveStats(o.stats, fail),
    probe: resolveProbe(o.probe, fail),
    threads,
    workflows: resolveWorkflows(o.workflows, fail),
    workflowRetentionMs:
      o.workflowRetention === undefined
        ? DEFAULT_RETENTION_MS
        : parseDuration(o.workflowRetention, 'workflowRetention', fail),
  };
}

function resolveHeartbeat(value: unknown, fail: Fail): { intervalMs: number; ttlMs: number } {
  const h = checkObject(value ?? {}, 'heartbeat', fail);
  checkKnownKeys(h, ['interval', 'ttl'], 'heartbeat', fail);
  const intervalMs =
    h.interval === undefined ? 5_000 : parseDuration(h.interval, 'heartbeat.interval', fail);
  if (intervalMs < 100 || intervalMs > 300_000) {
    fail(`heartbeat.interval must be from 100ms to 5m, got ${describe(h.interval)}`);
  }
  const ttlMs = h.ttl === undefined ? 3 * intervalMs : parseDuration(h.ttl, 'heartbeat.ttl', fail);
  // One late beat must not drop a live worker: the entry outlives at least two intervals.
  if (ttlMs < 2 * intervalMs || ttlMs > 3_600_000) {
    fail(
      `heartbeat.ttl must be from twice heartbeat.interval (${2 * intervalMs} ms) to 1h, got ${describe(h.ttl)}`,
    );
  }
  return { intervalMs, ttlMs };
}

function resolveStats(
  value: unknown,
  fail: Fail,
): { intervalMs: number; retentionMinutes: number } | false {
  if (value === false) return false;
  const s = checkObject(value ?? {}, 'stats', fail);
  checkKnownKeys(s, ['interval', 'retention'], 'stats', fail);
  const intervalMs =
    s.interval === undefined ? 5_000 : parseDuration(s.interval, 'stats.interval', fail);
  if (intervalMs < 1_000 || intervalMs > 60_000) {
    fail(`stats.interval must be from 1s to 1m, got ${describe(s.interval)}`);
  }
  const retentionMs =
    s.retention === undefined ? 3_600_000 : parseDuration(s.retention, 'stats.retention', fail);
  if (retentionMs < 300_000 || retentionMs > 21_600_000 || retentionMs % 60_000 !== 0) {
    fail(`stats.retention must be whole minutes from 5m to 6h, got ${describe(s.retention)}`);
  }
  return { intervalMs, retentionMinutes: retentionMs / 60_000 };
}

function resolveProbe(value: unknown, fail: Fail): { port: number; host: string } | undefined {
  if (value === undefined) return undefined;
  const p = checkObject(value, 'probe', fail);
  checkKnownKeys(p, ['port', 'host'], 'probe', fail);
  const port = checkInteger(p.port, 'probe.port', 0, 65_535, fail);
  const host = p.host ?? '0.0.0.0';
  if (typeof host !== 'string' || host.trim() === '') {
    fail(`probe.host must be a host name or an address such as '0.0.0.0', got ${describe(host)}`);
  }
  return { port, host: host as string };
}

function resolveWorkflows(value: unknown, fail: Fail): WorkflowDefinition[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) {
    fail(`workflows must be an array of defineWorkflow() definitions, got ${describe(value)}`);
  }
  const names = new Set<string>();
  return (value as unknown[]).map((definition, i) => {
    if (!isWorkflowDefinition(definition)) {
      fail(`workflows[${i}] must be what defineWorkflow() returns, got ${describe(definition)}`);
    }
    if (names.has(definition.name)) fail(`workflows: '${definition.name}' is listed twice`);
    names.add(definition.name);
    return definition;
  });
}

function resolveLease(value: unknown, fail: Fail): number {
  if (value === undefined) return 30_000;
  const ms = parseDuration(value, 'leaseDuration', fail);
  if (ms < 1_000 || ms > 3_600_000) {
    fail(`leaseDuration must be from 1s to 1h, got ${describe(value)}`);
  }
  return ms;
}

function resolveEnqueueTimeout(value: unknown, fail: Fail): number {
  if (value === undefined) return 5_000;
  const ms = parseDuration(value, 'enqueueTimeout', fail);
  // 0 would fail every enqueue before Redis could answer.
  if (ms < 1) fail(`enqueueTimeout must be at least 1 ms, got ${describe(value)}`);
  return ms;
}

function resolveQueueOptions(value: unknown, path: string, fail: Fail): ResolvedQueueOptions {
  const q = checkObject(value ?? {}, path, fail) as QueueOptions & Record<string, unknown>;
  checkKnownKeys(q, QUEUE_KEYS, path, fail);
  const resolved: ResolvedQueueOptions = {
    concurrency:
      q.concurrency === undefined
        ? 1
        : checkInteger(q.concurrency, `${path}.concurrency`, 1, 10_000, fail),
  };
  if (q.rateLimit !== undefined) {
    const r = q.rateLimit;
    const { max, perMs } = checkRateLimit(r, `${path}.rateLimit`, fail);
    resolved.rateLimit = { max, durationMs: perMs };
  }
  if (q.lockDuration !== undefined)
    resolved.lockDurationMs = parseDuration(q.lockDuration, `${path}.lockDuration`, fail);
  if (q.stalledInterval !== undefined) {
    resolved.stalledIntervalMs = parseDuration(q.stalledInterval, `${path}.stalledInterval`, fail);
  }
  if (q.isolation !== undefined) {
    resolved.isolation = checkIsolation(q.isolation, `${path}.isolation`, fail);
  }
  if (q.maxStalledCount !== undefined) {
    resolved.maxStalledCount = checkInteger(
      q.maxStalledCount,
      `${path}.maxStalledCount`,
      0,
      1000,
      fail,
    );
  }
  return resolved;
}

function resolveHooks(value: unknown, fail: Fail): TaskHooks {
  if (value === undefined) return {};
  const hooks = checkObject(value, 'hooks', fail);
  checkKnownKeys(hooks, ['onSuccess', 'onFailure', 'onDeadLetter'], 'hooks', fail);
  for (const [key, hook] of Object.entries(hooks)) {
    if (typeof hook !== 'function') fail(`hooks.${key} must be a function, got ${describe(hook)}`);
  }
  return hooks as TaskHooks;
}

function resolveConnection(value: unknown, fail: Fail): ResolvedConnection {
  if (typeof value === 'string')
    return { url: checkRedisUrl(value, 'connection', fail), options: {} };
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return fail(
      `connection must be a Redis URL ('redis://host:6379', 'rediss://…' for TLS), ioredis options, { cluster: { nodes, options } } or an ioredis Cluster, got ${describe(value)}`,
    );
  }
  // Duck-typed: an app's ioredis may be another copy than ours.
  if ((value as Cluster).isCluster === true) {
    // A template: Conveyor opens its own connections like it (and never closes this one).
    const cluster = value as unknown as { startupNodes: ClusterNode[]; options: ClusterOptions };
    return { cluster: { nodes: [...cluster.startupNodes], options: { ...cluster.options } } };
  }
  if ('cluster' in value) {
    const { cluster, ...rest } = value as { cluster: unknown };
    if (Object.keys(rest).length) {
      fail(
        `connection.cluster goes alone; put node settings in connection.cluster.options.redisOptions (got ${Object.keys(rest).join(', ')})`,
      );
    }
    const c = checkObject(cluster, 'connection.cluster', fail);
    checkKnownKeys(c, ['nodes', 'options'], 'connection.cluster', fail);
    if (!Array.isArray(c.nodes) || c.nodes.length === 0) {
      fail(
        `connection.cluster.nodes must list at least one node ({ host, port } or 'redis://host:port'), got ${describe(c.nodes)}`,
      );
    }
    return {
      cluster: {
        nodes: c.nodes as ClusterNode[],
        options: checkObject(c.options ?? {}, 'connection.cluster.options', fail) as ClusterOptions,
      },
    };
  }
  const { url, ...options } = value as { url?: unknown } & RedisOptions;
  return {
    url: url === undefined ? undefined : checkRedisUrl(url, 'connection.url', fail),
    options,
  };
}

function checkRedisUrl(value: unknown, path: string, fail: Fail): string {
  let parsed: URL | undefined;
  try {
    parsed = new URL(String(value));
  } catch {
    // reported below
  }
  if (typeof value !== 'string' || !parsed || !['redis:', 'rediss:'].includes(parsed.protocol)) {
    // Never echo the value: it may hold a password.
    fail(`${path} must be a URL starting with redis:// or rediss://`);
  }
  return value as string;
}

function resolveWorkers(value: unknown, fromEnv: string | undefined, fail: Fail): WorkersSelection {
  if (value === undefined && fromEnv !== undefined && fromEnv.trim() !== '') {
    const text = fromEnv.trim();
    if (text === 'all' || text === 'none') return text;
    const list = text
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    list.forEach((name) => checkQueueName(name, `CONVEYOR_WORKERS entry '${name}'`, fail));
    return list;
  }
  if (value === undefined || value === 'all' || value === 'none') return value ?? 'all';
  if (Array.isArray(value)) {
    value.forEach((name, i) => checkQueueName(name, `workers[${i}]`, fail));
    return value as string[];
  }
  return fail(`workers must be 'all', 'none' or a list of queue names, got ${describe(value)}`);
}
