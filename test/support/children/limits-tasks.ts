import { defineTask, type TaskRef } from '@conveyor/tasks';
import type { Redis } from 'ioredis';

/** Payload of the run-limits checker's jobs: an item number, a limit key, a duration. */
export interface LimitItem {
  n: number;
  /** The lock key or tenant (ignored by the task-wide limits). */
  key: string;
  /** How long the handler sleeps. */
  ms: number;
}

export const LIMITS_QUEUE = 'limits';

// Attempts to spare: a job whose worker is killed comes back as stalled (not a failed
// attempt), but nothing here should ever dead-letter a job for the test's own sake.
const common = {
  queue: LIMITS_QUEUE,
  attempts: 5,
  backoff: { type: 'fixed', delay: '100ms' },
} as const;

export const Singleton = defineTask<LimitItem, void>('limits.singleton', {
  ...common,
  singleton: true,
});
export const Lock = defineTask<LimitItem, void>('limits.lock', { ...common, lock: (p) => p.key });
export const TenantOne = defineTask<LimitItem, void>('limits.tenant-one', {
  ...common,
  concurrencyKey: (p) => p.key,
  maxConcurrent: 1,
});
export const TenantThree = defineTask<LimitItem, void>('limits.tenant-three', {
  ...common,
  concurrencyKey: (p) => p.key,
  maxConcurrent: 3,
});
export const Pool = defineTask<LimitItem, void>('limits.pool', { ...common, maxConcurrent: 2 });
export const Rate = defineTask<LimitItem, void>('limits.rate', {
  ...common,
  rateLimit: { max: 5, per: '1s' },
});

/** How a task's runs are limited, as the checker verifies it. */
export interface LimitedTask {
  task: TaskRef<LimitItem, void>;
  /** Limit keys, one scope each; `['']` for a limit on the task as a whole. */
  keys: string[];
  /** Runs at once per scope (1: exclusive). */
  cap?: number;
  /** Starts (admissions) per window, per scope. */
  rate?: { max: number; perMs: number };
  /** Jobs the scenario enqueues. */
  jobs: number;
  /**
   * Handler durations (ms, from–to), chosen so that each scope stays busy for about as long
   * as the others and a kill finds runs of every kind in flight.
   */
  ms: [number, number];
}

/** Every limit kind Conveyor offers, with the jobs the checker enqueues for each. */
export const LIMITED_TASKS: readonly LimitedTask[] = [
  { task: Singleton, keys: [''], cap: 1, jobs: 60, ms: [20, 250] },
  { task: Lock, keys: ['a', 'b', 'c'], cap: 1, jobs: 90, ms: [50, 500] },
  { task: TenantOne, keys: ['t1', 't2', 't3'], cap: 1, jobs: 90, ms: [50, 500] },
  { task: TenantThree, keys: ['t1', 't2', 't3'], cap: 3, jobs: 90, ms: [200, 1_500] },
  { task: Pool, keys: [''], cap: 2, jobs: 40, ms: [100, 800] },
  { task: Rate, keys: [''], rate: { max: 5, perMs: 1_000 }, jobs: 50, ms: [20, 250] },
];

/** Ledger keys of one test, on the queue's own Redis (whose TIME is the admission clock). */
export function limitsLedgerKeys(prefix: string): { events: string; seq: string } {
  return { events: `${prefix}:ledger:events`, seq: `${prefix}:ledger:seq` };
}

/**
 * Appends an event to the ledger with the Redis server's TIME and a sequence number, in one
 * script: the sequence is the order in which Redis executed the events (admission scripts
 * included), the time is Redis's clock, the one leases and rate windows run on.
 */
const MARK_LUA = `
local t = redis.call('TIME')
local seq = redis.call('INCR', KEYS[2])
redis.call('RPUSH', KEYS[1], ARGV[1] .. '\\n' .. seq .. ' ' .. t[1] .. ' ' .. t[2])
return seq
`;

/** A ledger event as written by a worker (or by the test, for a process exit). */
export type LedgerEvent =
  | {
      e: 'start';
      run: string;
      n: number;
      task: string;
      scope: string;
      pid: number;
      /** `ctx.admittedAt`, ms on Redis's clock. */
      admittedAt: number;
      /** The worker's own (possibly skewed) `Date.now()` at the start. */
      local: number;
    }
  | { e: 'lost'; run: string; reason: string }
  | { e: 'end'; run: string; ok?: boolean }
  | { e: 'kill'; pid: number }
  | { e: 'exit'; pid: number };

/** Writes ledger events to `redis` under `prefix`'s ledger keys. */
export function ledgerWriter(redis: Redis, prefix: string): (event: LedgerEvent) => Promise<void> {
  const keys = limitsLedgerKeys(prefix);
  return async (event) => {
    await redis.eval(MARK_LUA, 2, keys.events, keys.seq, JSON.stringify(event));
  };
}

/** A ledger event with the sequence number and Redis time (µs) it was recorded at. */
export type RecordedEvent = LedgerEvent & { seq: number; us: number };

/** Reads back every event of the ledger, in the order Redis recorded them. */
export async function readLedger(redis: Redis, prefix: string): Promise<RecordedEvent[]> {
  const raw = await redis.lrange(limitsLedgerKeys(prefix).events, 0, -1);
  return raw
    .map((line) => {
      const [json, stamp] = line.split('\n');
      const [seq, sec, usec] = stamp.split(' ').map(Number);
      return { ...(JSON.parse(json) as LedgerEvent), seq, us: sec * 1_000_000 + usec };
    })
    .sort((a, b) => a.seq - b.seq);
}
