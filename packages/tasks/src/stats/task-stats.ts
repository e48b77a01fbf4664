import { Inject, Injectable } from '@nestjs/common';
import { checkKnownQueue } from '../dead-letters/dead-letters.service';
import { InvalidTaskOptionsError } from '../errors';
import type { Duration } from '../interfaces/duration.interface';
import type { ResolvedModuleOptions } from '../options/module-options';
import { describe, parseDuration } from '../options/validation';
import { RedisConnections } from '../redis/redis-connections';
import { RESOLVED_TASKS_OPTIONS } from '../tasks.constants';
import { TasksRegistry } from '../tasks.registry';
import { bucketMs, statsKeys } from './stats-keys';

/** One minute of a queue's or a task's history. */
export interface MinuteFigures {
  /** The minute's start (Redis's clock). */
  at: Date;
  completed: number;
  /** Failed attempts, retried or not. */
  failed: number;
  deadLettered: number;
  /** Mean run time of the runs that ended in that minute, ms; 0 without any. */
  avgRunMs: number;
}

/** Totals over a window. */
export interface StatsTotals {
  completed: number;
  failed: number;
  deadLettered: number;
  /** Runs ended per minute over the window (completed + failed). */
  perMinute: number;
  /** completed / (completed + failed); `null` without any run. */
  successRate: number | null;
  /** Mean run time, ms; 0 without any run. */
  avgRunMs: number;
}

/** A queue's history: one entry a minute, oldest first, and its totals. */
export interface QueueStats extends StatsTotals {
  queue: string;
  minutes: MinuteFigures[];
}

/** A task's figures over the window. Percentiles are within 9% (see `RunHistory`). */
export interface TaskStatsSummary extends StatsTotals {
  task: string;
  queue: string;
  /** Run-time percentiles in ms; `null` without any run. */
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
}

/** One group of failures: the same error, numbers and quoted values aside. */
export interface FailureGroup {
  /** `<name>: <message with <n>, <id>, <value> in place of numbers, ids, quoted values>`. */
  signature: string;
  count: number;
  /** The last failure of the group: its error and job. */
  name?: string;
  message?: string;
  lastJobId?: string;
  lastAt?: Date;
}

/** A task's history, its percentiles, and its failures grouped by error, most frequent first. */
export interface TaskStatsDetail extends TaskStatsSummary {
  minutes: MinuteFigures[];
  failures: FailureGroup[];
}

/** How far back to read: whole minutes, at most 24h. @default '1h' */
export interface StatsWindow {
  window?: Duration;
}

type Hash = Record<string, string>;

/**
 * Reads the run history worker processes keep in Redis (`TasksModule.forRoot({ stats })`):
 * per queue and per task, one entry a minute of completed runs, failed attempts, dead
 * letters and run time, run-time percentiles, and failures grouped by error. Any process
 * may read it; every read is a few hash reads per queue or task, bounded by the retention,
 * whatever the number of jobs.
 *
 * @example
 * const [orders] = await stats.queues(['orders']);
 * const charge = await stats.task('orders.charge', { window: '15m' });
 * console.log(charge.p95Ms, charge.failures[0]?.signature);
 */
@Injectable()
export class TaskStats {
  constructor(
    @Inject(RESOLVED_TASKS_OPTIONS) private readonly options: ResolvedModuleOptions,
    private readonly redis: RedisConnections,
    private readonly registry: TasksRegistry,
  ) {}

  /** The history of `queues` (every queue this app knows by default), in that order. */
  async queues(queues?: readonly string[], options: StatsWindow = {}): Promise<QueueStats[]> {
    const names = queues ? queues.map((q) => this.checkQueue(q)) : this.registry.knownQueues();
    const window = windowOf(options);
    const [now, hashes] = await Promise.all([this.minute(), this.readQueues(names)]);
    return names.map((queue, i) => {
      const hash = hashes[i];
      const minutes = series(hash, now, window);
      return { queue, ...totals(minutes), minutes };
    });
  }

  /** Every task with figures in `queue`'s window, busiest first. */
  async tasks(queue: string, options: StatsWindow = {}): Promise<TaskStatsSummary[]> {
    const keys = statsKeys(this.options.keys, this.checkQueue(queue));
    const window = windowOf(options);
    const [now, index] = await Promise.all([this.minute(), this.redis.client.hgetall(keys.tasks)]);
    const names = Object.keys(index)
      .filter((task) => Number(index[task]) > now - window)
      .sort();
    if (!names.length) return [];
    const pipeline = this.redis.client.pipeline();
    for (const task of names) pipeline.hgetall(keys.task(task));
    const replies = (await pipeline.exec()) ?? [];
    return names
      .map((task, i) => summary(task, queue, (replies[i]?.[1] ?? {}) as Hash, now, window))
      .sort((a, b) => b.completed + b.failed - (a.completed + a.failed));
  }

  /**
   * One task's history, percentiles and failures by error. `queue` defaults to the task's own
   * queue when this app declares the task; give it for a task routed elsewhere.
   */
  async task(
    task: string,
    options: StatsWindow & { queue?: string } = {},
  ): Promise<TaskStatsDetail> {
    if (typeof task !== 'string' || !task) {
      throw new InvalidTaskOptionsError(
        undefined,
        `task must be a task name, got ${describe(task)}`,
      );
    }
    const queue = options.queue === undefined ? this.queueOf(task) : this.checkQueue(options.queue);
    const keys = statsKeys(this.options.keys, queue);
    const window = windowOf(options);
    const [now, hash, samples] = await Promise.all([
      this.minute(),
      this.redis.client.hgetall(keys.task(task)),
      this.redis.client.hgetall(keys.errors(task)),
    ]);
    const minutes = series(hash, now, window);
    return {
      ...summary(task, queue, hash, now, window),
      minutes,
      failures: failures(hash, samples, now, window),
    };
  }

  /**
   * Each queue's history hash: one pipeline on a single Redis; on a cluster, where queues may
   * sit on different masters, one call a queue, sent together.
   */
  private async readQueues(names: readonly string[]): Promise<Hash[]> {
    const keys = names.map((queue) => statsKeys(this.options.keys, queue).queue);
    if (this.redis.cluster) return Promise.all(keys.map((key) => this.redis.client.hgetall(key)));
    const pipeline = this.redis.client.pipeline();
    for (const key of keys) pipeline.hgetall(key);
    const replies = (await pipeline.exec()) ?? [];
    return keys.map((_, i) => (replies[i]?.[1] ?? {}) as Hash);
  }

  private queueOf(task: string): string {
    if (this.registry.get(task)) return this.registry.definition(task).options.queue;
    throw new InvalidTaskOptionsError(
      undefined,
      `task '${task}' is not declared in this app: give its queue ({ queue })`,
    );
  }

  private checkQueue(queue: unknown): string {
    return checkKnownQueue(queue, this.registry.knownQueues());
  }

  /** The current minute on Redis's clock, the one the workers write in. */
  private async minute(): Promise<number> {
    const [seconds] = await this.redis.client.time();
    return Math.floor(Number(seconds) / 60);
  }
}

function windowOf(options: StatsWindow): number {
  const fail = (problem: string): never => {
    throw new InvalidTaskOptionsError(undefined, problem);
  };
  const ms =
    options.window === undefined ? 3_600_000 : parseDuration(options.window, 'window', fail);
  if (ms < 60_000 || ms > 86_400_000 || ms % 60_000 !== 0) {
    fail(`window must be whole minutes from 1m to 24h, got ${describe(options.window)}`);
  }
  return ms / 60_000;
}

const num = (hash: Hash, field: string) => Number(hash[field] ?? 0);

/** The last `window` minutes up to `now`, oldest first; minutes without figures are zeros. */
function series(hash: Hash, now: number, window: number): MinuteFigures[] {
  const minutes: MinuteFigures[] = [];
  for (let m = now - window + 1; m <= now; m++) {
    const completed = num(hash, `${m}:c`);
    const failed = num(hash, `${m}:f`);
    const runs = completed + failed;
    minutes.push({
      at: new Date(m * 60_000),
      completed,
      failed,
      deadLettered: num(hash, `${m}:d`),
      avgRunMs: runs ? num(hash, `${m}:ms`) / runs : 0,
    });
  }
  return minutes;
}

function totals(minutes: MinuteFigures[]): StatsTotals {
  let completed = 0;
  let failed = 0;
  let deadLettered = 0;
  let runMs = 0;
  for (const m of minutes) {
    completed += m.completed;
    failed += m.failed;
    deadLettered += m.deadLettered;
    runMs += m.avgRunMs * (m.completed + m.failed);
  }
  const runs = completed + failed;
  return {
    completed,
    failed,
    deadLettered,
    perMinute: runs / minutes.length,
    successRate: runs ? completed / runs : null,
    avgRunMs: runs ? runMs / runs : 0,
  };
}

function summary(
  task: string,
  queue: string,
  hash: Hash,
  now: number,
  window: number,
): TaskStatsSummary {
  const buckets = new Map<number, number>();
  const from = now - window + 1;
  for (const [field, value] of Object.entries(hash)) {
    const match = /^(\d+):h:(\d+)$/.exec(field);
    if (!match || Number(match[1]) < from || Number(match[1]) > now) continue;
    const bucket = Number(match[2]);
    buckets.set(bucket, (buckets.get(bucket) ?? 0) + Number(value));
  }
  const sorted = [...buckets].sort((a, b) => a[0] - b[0]);
  const runs = sorted.reduce((sum, [, n]) => sum + n, 0);
  const percentile = (p: number): number | null => {
    if (!runs) return null;
    const rank = Math.ceil(p * runs);
    let seen = 0;
    for (const [bucket, n] of sorted) {
      seen += n;
      if (seen >= rank) return Math.round(bucketMs(bucket) * 10) / 10;
    }
    return null;
  };
  return {
    task,
    queue,
    ...totals(series(hash, now, window)),
    p50Ms: percentile(0.5),
    p95Ms: percentile(0.95),
    p99Ms: percentile(0.99),
  };
}

function failures(hash: Hash, samples: Hash, now: number, window: number): FailureGroup[] {
  const counts = new Map<string, number>();
  const from = now - window + 1;
  for (const [field, value] of Object.entries(hash)) {
    const match = /^(\d+):e:(.*)$/s.exec(field);
    if (!match || Number(match[1]) < from || Number(match[1]) > now) continue;
    counts.set(match[2], (counts.get(match[2]) ?? 0) + Number(value));
  }
  return [...counts]
    .sort((a, b) => b[1] - a[1])
    .map(([signature, count]) => {
      const sample = parseSample(samples[signature]);
      return {
        signature,
        count,
        ...(sample && {
          name: sample.name,
          message: sample.message,
          lastJobId: sample.job,
          lastAt: sample.at === undefined ? undefined : new Date(sample.at),
        }),
      };
    });
}

function parseSample(
  text: string | undefined,
): { name?: string; message?: string; job?: string; at?: number } | undefined {
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
