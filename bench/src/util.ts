import { Client } from 'pg';
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
export const DATABASE_URL = process.env.DATABASE_URL ?? 'postgresql://root@127.0.0.1:5432/test';

export const now = (): number => performance.now();
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A Redis key prefix of this run only (Conveyor wraps it in a hash tag; so do the others). */
export function uniquePrefix(): string {
  return `conveyor-bench-${randomUUID().slice(0, 8)}`;
}

/** Deletes every key under `{prefix}`. */
export async function deletePrefix(prefix: string): Promise<void> {
  const redis = new Redis(REDIS_URL);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `{${prefix}}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await redis.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

/** Nearest-rank percentile of an ascending-sorted array. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

export function median(values: number[]): number {
  return percentile(
    [...values].sort((a, b) => a - b),
    50,
  );
}

/** Median and spread (min–max) of a set of rounds. */
export interface Summary {
  median: number;
  min: number;
  max: number;
  rounds: number[];
}

/**
 * A full GC where `--expose-gc` is on (`npm run bench`), called before each contender's
 * measurement: the garbage one contender left behind is otherwise collected, and paid
 * for, during the next one's clock.
 */
export function collectGarbage(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

export function summarize(values: number[]): Summary {
  return {
    median: median(values),
    min: Math.min(...values),
    max: Math.max(...values),
    rounds: values,
  };
}

/** Runs `count` calls of `fn` with at most `concurrency` in flight. */
export async function pump(
  count: number,
  concurrency: number,
  fn: (i: number) => Promise<unknown>,
): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < count) await fn(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane));
}

/** A promise with its resolve and reject exposed. */
export function deferred<T = void>(): {
  promise: Promise<T>;
  resolve: (v: T) => void;
  reject: (e: unknown) => void;
} {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Rejects when `promise` has not settled within `ms`. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]);
}

/** A string of `bytes` ASCII characters, so that a payload's JSON is about that size. */
export function padding(bytes: number): string {
  return 'x'.repeat(bytes);
}

/**
 * What a relay in another process holds on the table's channel: a LISTEN connection, named
 * as the relay names it (`application_name` `conveyor-relay <channel>`, by which writers
 * see that someone listens and send their after-commit `NOTIFY`). A bare one, so that the
 * writer's cost is measured without a relay's claims beside it in this process.
 */
export async function relayListener(table: string): Promise<Client> {
  const channel = `${table.replace('.', '_')}_wake`;
  const listener = new Client({ connectionString: DATABASE_URL });
  await listener.connect();
  await listener.query(`SET application_name = 'conveyor-relay ${channel}'`);
  await listener.query(`LISTEN "${channel}"`);
  return listener;
}
