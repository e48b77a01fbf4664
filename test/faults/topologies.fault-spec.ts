import { Test, type TestingModule } from '@nestjs/testing';
import { TransactionHost } from '@nestjs-cls/transactional';
import { Outbox, OutboxRelay, type OutboxTransactionalAdapter } from '@conveyor/outbox';
import { step, TaskProducer, TasksModule, type TasksModuleOptions } from '@conveyor/tasks';
import { OrderTasks, Seen, SendConfirmation } from '../outbox/fixtures';
import { openSql, startOutboxApp } from '../support/outbox-app';
import { eventually } from '../support/tasks-app';
import type { Child } from '../support/child-process';
import { startChild } from '../support/child-process';
import { PrivateCluster } from '../support/private-cluster';
import { PrivateSentinel } from '../support/private-sentinel';
import { uniquePrefix } from '../support/redis';
import {
  Billed,
  ITEM,
  Keyed,
  Rated,
  Summed,
  TOPOLOGY_QUEUES,
  TOPOLOGY_QUEUES_ONE_TAG,
  topologyTags,
} from '../support/children/topology-tasks';
import { items, Ledger, report, sleep, until } from './ledger';

// A master of the Redis that Conveyor runs on is SIGKILLed mid-run: on a Redis Cluster (3
// masters, a replica each, queues spread over the masters) and under Redis Sentinel (a master
// and a replica). Workers and the API process ride out the failover without a restart; the
// ledger (on the shared Redis, untouched) must show every acknowledged job run.
//
// What is acknowledged: Redis replicates asynchronously, so a write the dying master took in
// its last moment may never reach the replica that takes over. The scenario makes sure the
// first batch has reached the replicas (WAIT) before the kill, and enqueues a second batch
// through the same API process after the failover.

const WORKERS = 2;

interface Workload {
  /** Enqueues items `from`…`from + count - 1` of each kind; returns the ledger items. */
  enqueue(producer: TaskProducer, from: number, count: number): Promise<number[]>;
}

/** Rate-limited, per-key, idempotent jobs and chords of two idempotent members. */
const workload: Workload = {
  async enqueue(producer, from, count) {
    const expected: number[] = [];
    const range = Array.from({ length: count }, (_, i) => from + i);
    await producer.enqueueMany(
      Keyed,
      range.map((i) => ({ n: ITEM.keyed + i, key: `tenant-${i % 5}` })),
    );
    for (const i of range) {
      await producer.enqueue(Billed, { n: ITEM.billed + i }, { idempotencyKey: `b-${i}` });
    }
    for (const i of range.filter((i) => i % 4 === 0)) {
      const members = [ITEM.member + 2 * i, ITEM.member + 2 * i + 1];
      await producer.chord(
        members.map((n) => step(Billed, { n })),
        step(Summed),
      );
      expected.push(...members, ITEM.chord + 2 * i);
    }
    // Last, so that its rate limit (20 a second) keeps jobs waiting for seconds.
    await producer.enqueueMany(
      Rated,
      range.map((i) => ({ n: ITEM.rated + i })),
    );
    for (const i of range) expected.push(ITEM.rated + i, ITEM.keyed + i, ITEM.billed + i);
    return expected;
  },
};

/** Retries a call that rejects while the failover is under way (the caller's contract). */
async function retrying<T>(call: () => Promise<T>, onError: () => void): Promise<T> {
  for (;;) {
    try {
      return await call();
    } catch {
      onError();
      await sleep(200);
    }
  }
}

/**
 * The rest of a failover scenario, once the first batch is enqueued and replicated: waits until
 * a quarter of it has run, kills the master (`kill` returns what `failover` waits on), enqueues
 * a second batch through the same API process (retrying while the failover is under way), and
 * checks the ledger: every job of both batches ran.
 */
async function killMidRunAndFinish<V>(run: {
  scenario: string;
  ledger: Ledger;
  producer: TaskProducer;
  first: number[];
  perKind: number;
  kill: () => Promise<V>;
  failover: (victim: V) => Promise<void>;
  extra?: Record<string, number>;
}): Promise<void> {
  const { ledger, producer, first, perKind } = run;
  await until(async () => (await ledger.done()) >= first.length / 4, 60_000, 'a quarter', 20);
  const victim = await run.kill();
  const killedAt = await ledger.done();
  expect(killedAt).toBeLessThan(first.length);
  await run.failover(victim);

  let enqueueErrors = 0;
  const second = await retrying(
    () => workload.enqueue(producer, perKind, perKind),
    () => (enqueueErrors += 1),
  );
  const expected = [...first, ...second];
  await until(async () => (await ledger.done()) >= expected.length, 120_000, 'every job');
  const figures = await ledger.check(expected);
  report({
    scenario: run.scenario,
    items: expected.length,
    faults: 1,
    ran: figures.ran,
    lost: figures.lost.length,
    runs: figures.runs,
    duplicatesAbsorbed: figures.duplicatesAbsorbed,
    doneAtKill: killedAt,
    enqueueErrorsRetried: enqueueErrors,
    ...run.extra,
  });
  expect(figures.lost).toEqual([]);
}

async function startApi(
  prefix: string,
  options: Partial<TasksModuleOptions>,
): Promise<TestingModule> {
  const module = await Test.createTestingModule({
    imports: [
      TasksModule.forRoot({
        prefix,
        workers: 'none',
        ...options,
      } as TasksModuleOptions),
    ],
  }).compile();
  module.useLogger(false);
  await module.init();
  return module;
}

function startWorkers(
  prefix: string,
  connection: unknown,
  hashTags: 'prefix' | 'queue',
): Promise<Child[]> {
  return Promise.all(
    Array.from({ length: WORKERS }, async () => {
      const child = startChild('topology-worker.ts', {
        CONVEYOR_PREFIX: prefix,
        CONVEYOR_CONNECTION: JSON.stringify(connection),
        HASH_TAGS: hashTags,
      });
      await child.waitFor(/READY/, 60_000);
      return child;
    }),
  );
}

describe('fault: a Redis master SIGKILLed mid-run, with failover', () => {
  const owned: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const close of owned.splice(0).reverse()) await close().catch(() => undefined);
  });

  it('on a Redis Cluster: the app rides out a master failover and loses no acknowledged job', async () => {
    const perKind = items(60, 600);
    const cluster = await PrivateCluster.start({ masters: 3, replicas: 1 });
    owned.push(() => cluster.destroy());
    // A prefix whose queue tags fall on three masters.
    const prefix = await cluster.spreadPrefix(uniquePrefix, topologyTags);
    const ledger = new Ledger(prefix);
    owned.push(() => ledger.close());
    const connection = { cluster: { nodes: cluster.startupNodes } };
    const workers = await startWorkers(prefix, connection, 'queue');
    owned.push(() => Promise.all(workers.map((worker) => worker.kill())));
    const api = await startApi(prefix, { connection, hashTags: 'queue', queues: TOPOLOGY_QUEUES });
    owned.push(() => api.close());
    const producer = api.get(TaskProducer);

    const first = await workload.enqueue(producer, 0, perKind);
    await cluster.waitForReplication();
    const spread = [...(await cluster.keysPerMaster()).values()].filter((keys) => keys > 0);
    expect(spread).toHaveLength(3);

    // Mid-run: a quarter has run; the rate-limited queue (20 a second) still has jobs parked
    // and waiting on the master that dies.
    await killMidRunAndFinish({
      scenario: 'redis cluster: master SIGKILLed, replica promoted',
      ledger,
      producer,
      first,
      perKind,
      kill: async () => {
        const victim = await cluster.masterOf(`{${prefix}:mail}`);
        await cluster.kill(victim);
        return victim;
      },
      failover: (victim) => cluster.waitForFailover(victim),
      extra: { mastersWithKeys: spread.length },
    });
    // The workers were never restarted: they ran the second batch after the failover.
    expect(workers.every((worker) => worker.output().includes('READY'))).toBe(true);
  });

  it('on a Redis Cluster: the outbox relay and its workers carry on after a master failover', async () => {
    const cluster = await PrivateCluster.start({ masters: 3, replicas: 1 });
    owned.push(() => cluster.destroy());
    const prefix = uniquePrefix();
    const sql = await openSql('postgres');
    owned.push(() => sql.close());
    const app = await startOutboxApp({
      backend: 'postgres',
      prefix,
      outbox: { relay: { pollInterval: '20ms', publishTimeout: '1s' } },
      tasks: {
        connection: { cluster: { nodes: cluster.startupNodes } },
        hashTags: 'queue',
        queues: { default: { concurrency: 5 }, audit: {} },
      },
      providers: [Seen, OrderTasks],
    });
    owned.push(async () => {
      await app.close();
      await sql.query(`DROP TABLE IF EXISTS "${app.table}"`);
    });
    const commit = (ids: string[]) =>
      app
        .get<TransactionHost<OutboxTransactionalAdapter>>(TransactionHost)
        .withTransaction(async () => {
          for (const orderId of ids) await app.get(Outbox).enqueue(SendConfirmation, { orderId });
        });
    const seen = app.get(Seen);
    const confirmed = () => new Set(seen.of('confirm')).size;

    const first = Array.from({ length: 30 }, (_, i) => `a-${i}`);
    await commit(first);
    await eventually(() => confirmed() === first.length, 30_000, 'the first batch');
    await cluster.waitForReplication();
    const victim = await cluster.masterOf(`{${prefix}:default}`);
    await cluster.kill(victim);
    // Committed while the queue's master is down: the relay keeps them until Redis takes them.
    const second = Array.from({ length: 30 }, (_, i) => `b-${i}`);
    await commit(second);
    await cluster.waitForFailover(victim);
    await eventually(
      () => confirmed() === first.length + second.length,
      60_000,
      'the batch committed during the failover',
    );
    // The jobs can run before the relay's mark of their rows commits (a publish that timed
    // out in the failover is published again, the same job ids, then marked): wait for it.
    await eventually(
      async () => (await app.get(OutboxRelay).stats()).pending === 0,
      30_000,
      'every row to be marked published',
    );
    const stats = await app.get(OutboxRelay).stats();
    report({
      scenario: 'redis cluster: outbox relay across a master failover',
      items: first.length + second.length,
      faults: 1,
      ran: confirmed(),
      lost: first.length + second.length - confirmed(),
      runs: seen.of('confirm').length,
      duplicatesAbsorbed: seen.of('confirm').length - confirmed(),
      pendingAfter: stats.pending,
    });
    expect(stats.pending).toBe(0);
    expect(stats.setAside).toBe(0);
  });

  it('under Redis Sentinel: the app follows the promoted replica and loses no acknowledged job', async () => {
    const perKind = items(60, 600);
    const sentinel = await PrivateSentinel.start({ replicas: 1, sentinels: 3 });
    owned.push(() => sentinel.destroy());
    const prefix = uniquePrefix();
    const ledger = new Ledger(prefix);
    owned.push(() => ledger.close());
    const connection = { sentinels: sentinel.sentinels, name: sentinel.name };
    const workers = await startWorkers(prefix, connection, 'prefix');
    owned.push(() => Promise.all(workers.map((worker) => worker.kill())));
    const api = await startApi(prefix, { connection, queues: TOPOLOGY_QUEUES_ONE_TAG });
    owned.push(() => api.close());
    const producer = api.get(TaskProducer);

    const first = await workload.enqueue(producer, 0, perKind);
    await sentinel.waitForReplication();
    await killMidRunAndFinish({
      scenario: 'redis sentinel: master SIGKILLed, replica promoted',
      ledger,
      producer,
      first,
      perKind,
      kill: () => sentinel.killMaster(),
      failover: (victim) => sentinel.waitForFailover(victim),
    });
  });
});
