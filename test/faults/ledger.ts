import { Redis } from 'ioredis';
import { type Child, startChild } from '../support/child-process';
import { PrivateRedis } from '../support/private-redis';
import { REDIS_URL } from '../support/redis';
import { ledgerKeys } from '../support/children/ledger-task';

/** `CONVEYOR_SOAK=1` runs the long version of each scenario. */
export const SOAK = process.env.CONVEYOR_SOAK === '1';

/** Item counts: the default keeps the whole suite to a few minutes on two cores. */
export function items(normal: number, soak: number): number {
  return SOAK ? soak : normal;
}

/** What one scenario's ledger says; printed at the end of every scenario. */
export interface Figures {
  scenario: string;
  items: number;
  faults: number;
  ran: number;
  lost: number;
  runs: number;
  duplicatesAbsorbed: number;
  [extra: string]: string | number;
}

/** Prints a scenario's figures in one line the README table is copied from. */
export function report(figures: Figures): void {
  process.stdout.write(`FAULT-FIGURES ${JSON.stringify(figures)}\n`);
}

/** The ledger the fault workers write (on the shared Redis, which no fault touches). */
export class Ledger {
  private readonly redis = new Redis(REDIS_URL);
  private readonly keys: { runs: string; done: string };

  constructor(prefix: string) {
    this.keys = ledgerKeys(prefix);
  }

  /** Distinct items that ran at least once. */
  done(): Promise<number> {
    return this.redis.scard(this.keys.done);
  }

  /** Item → how many times it ran. */
  async runs(): Promise<Map<number, number>> {
    const raw = await this.redis.hgetall(this.keys.runs);
    return new Map(Object.entries(raw).map(([n, count]) => [Number(n), Number(count)]));
  }

  /** Compares the ledger with the items that must have run. */
  async check(expected: Iterable<number>): Promise<{
    ran: number;
    lost: number[];
    runs: number;
    duplicatesAbsorbed: number;
  }> {
    const runs = await this.runs();
    const lost = [...expected].filter((n) => !runs.has(n));
    const total = [...runs.values()].reduce((sum, count) => sum + count, 0);
    return { ran: runs.size, lost, runs: total, duplicatesAbsorbed: total - runs.size };
  }

  async close(): Promise<void> {
    await this.redis.del(this.keys.runs, this.keys.done);
    this.redis.disconnect();
  }
}

export interface WorkerEnv {
  redisUrl: string;
  prefix: string;
  queue?: Record<string, unknown>;
  workMs?: number;
  shutdownTimeoutMs?: number;
}

/** Starts a ledger worker child and waits until it takes jobs. */
export async function startWorker(env: WorkerEnv): Promise<Child> {
  const child = startChild('ledger-worker.ts', {
    REDIS_URL: env.redisUrl,
    CONVEYOR_PREFIX: env.prefix,
    QUEUE_OPTIONS: JSON.stringify(env.queue ?? {}),
    WORK_MS: String(env.workMs ?? 0),
    SHUTDOWN_TIMEOUT_MS: String(env.shutdownTimeoutMs ?? 10_000),
  });
  await child.waitFor(/READY/, 60_000);
  return child;
}

/** Polls until `probe` is truthy; fails with `what` after `timeoutMs`. */
export async function until(
  probe: () => Promise<boolean> | boolean,
  timeoutMs: number,
  what: string,
  everyMs = 200,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The private Redis, API app, ledger and worker processes of one fault scenario: Redis
 * starts (with AOF) before the tests, and everything the test `own`s or starts as a worker is
 * torn down after them, newest first.
 */
export function faultRig() {
  const owned: Array<{ close(): Promise<void> }> = [];
  const rig = {
    redis: undefined as unknown as PrivateRedis,
    workers: [] as Child[],
    own<T extends { close(): Promise<void> }>(resource: T): T {
      owned.push(resource);
      return resource;
    },
  };
  beforeAll(async () => {
    rig.redis = await PrivateRedis.start({ appendonly: true });
  });
  afterAll(async () => {
    await Promise.all(rig.workers.map((worker) => worker.kill()));
    for (const resource of owned.reverse()) await resource.close();
    await rig.redis.destroy();
  });
  return rig;
}
