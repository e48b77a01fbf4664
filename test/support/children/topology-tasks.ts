// Tasks for the Redis Cluster and Sentinel tests: one task of each kind of limit, on queues
// that a cluster spreads over its masters (hashTags: 'queue'), each run recorded in a ledger
// on the shared Redis, which the faults leave alone.
import { Injectable } from '@nestjs/common';
import { Redis } from 'ioredis';
import { defineTask, Task, type TasksModuleOptions } from '@conveyor/tasks';
import { ledgerKeys } from './ledger-task';

/** Ledger item numbers, one range per kind of job. */
export const ITEM = {
  rated: 0,
  keyed: 100_000,
  billed: 200_000,
  chord: 300_000,
  member: 400_000,
} as const;

export interface TopologyItem {
  n: number;
  key?: string;
}

const retry = { attempts: 10, backoff: { type: 'fixed' as const, delay: 200 } };

/** `mail`: a task rate limit across every worker (60 jobs take three seconds). */
export const Rated = defineTask<TopologyItem, number>('topo.rated', {
  queue: 'mail',
  rateLimit: { max: 20, per: '1s' },
  ...retry,
});

/** `tenants`: one run at a time per tenant. */
export const Keyed = defineTask<TopologyItem, number>('topo.keyed', {
  queue: 'tenants',
  concurrencyKey: (item) => item.key ?? 'none',
  maxConcurrent: 1,
  ...retry,
});

/** `billing`: idempotent, and the members of the chords. */
export const Billed = defineTask<TopologyItem, number>('topo.billed', {
  queue: 'billing',
  idempotent: true,
  ...retry,
});

/** `billing-sum`: a chord's callback, in `billing`'s hash tag. */
export const Summed = defineTask<number[], number>('topo.summed', {
  queue: 'billing-sum',
  ...retry,
});

/** The queues, spread over a cluster's masters; a chord's two queues share one tag. */
export const TOPOLOGY_QUEUES: NonNullable<TasksModuleOptions['queues']> = {
  mail: { concurrency: 5, lockDuration: 2_000, stalledInterval: 1_000, maxStalledCount: 20 },
  tenants: { concurrency: 10, lockDuration: 2_000, stalledInterval: 1_000, maxStalledCount: 20 },
  billing: {
    concurrency: 5,
    hashTag: 'billing',
    lockDuration: 2_000,
    stalledInterval: 1_000,
    maxStalledCount: 20,
  },
  'billing-sum': {
    concurrency: 2,
    hashTag: 'billing',
    lockDuration: 2_000,
    stalledInterval: 1_000,
    maxStalledCount: 20,
  },
};

/** The same queues for `hashTags: 'prefix'` (one tag for the app: Sentinel, one Redis). */
export const TOPOLOGY_QUEUES_ONE_TAG: NonNullable<TasksModuleOptions['queues']> =
  Object.fromEntries(
    Object.entries(TOPOLOGY_QUEUES).map(([name, { hashTag: _, ...rest }]) => [name, rest]),
  );

/** The hash tags of the topology queues under `prefix` with `hashTags: 'queue'`. */
export function topologyTags(prefix: string): string[] {
  return ['mail', 'tenants', 'billing'].map((group) => `{${prefix}:${group}}`);
}

/** The chord item a callback records: its first member's number, moved to its range. */
export function chordItem(memberResults: number[]): number {
  return ITEM.chord + Math.min(...memberResults) - ITEM.member;
}

/** The handlers; each records its item in the ledger of `prefix` and returns its number. */
export function topologyTasks(prefix: string, ledgerUrl = 'redis://127.0.0.1:6379') {
  const keys = ledgerKeys(prefix);

  @Injectable()
  class TopologyTasks {
    readonly ledger = new Redis(ledgerUrl, { maxRetriesPerRequest: null });

    async record(n: number): Promise<number> {
      await this.ledger.multi().hincrby(keys.runs, String(n), 1).sadd(keys.done, String(n)).exec();
      return n;
    }

    @Task(Rated)
    rated(item: TopologyItem): Promise<number> {
      return this.record(item.n);
    }

    @Task(Keyed)
    async keyed(item: TopologyItem): Promise<number> {
      await new Promise((resolve) => setTimeout(resolve, 5));
      return this.record(item.n);
    }

    @Task(Billed)
    billed(item: TopologyItem): Promise<number> {
      return this.record(item.n);
    }

    @Task(Summed)
    summed(results: number[]): Promise<number> {
      return this.record(chordItem(results));
    }

    onApplicationShutdown(): void {
      this.ledger.disconnect();
    }
  }
  return TopologyTasks;
}
