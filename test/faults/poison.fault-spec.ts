import { DeadLetters, TaskProducer } from '@conveyor/tasks';
import type { Child } from '../support/child-process';
import { PrivateRedis } from '../support/private-redis';
import { uniquePrefix } from '../support/redis';
import { startTasksApp, type TestApp } from '../support/tasks-app';
import { LedgerTask } from '../support/children/ledger-task';
import { items, Ledger, report, startWorker, until } from './ledger';

describe('fault 5: a poison job among good ones', () => {
  let redis: PrivateRedis;
  let api: TestApp | undefined;
  let ledger: Ledger | undefined;
  let worker: Child | undefined;

  beforeAll(async () => {
    redis = await PrivateRedis.start({ appendonly: true });
  });
  afterAll(async () => {
    await worker?.kill();
    await api?.close();
    await ledger?.close();
    await redis.destroy();
  });

  it('finishes every good job and dead-letters the poison one, without a worker crash', async () => {
    const good = items(1_000, 10_000);
    const poisonAt = Math.floor(good / 3);
    const prefix = uniquePrefix();
    ledger = new Ledger(prefix);
    api = await startTasksApp([], {
      connection: redis.url,
      prefix,
      workers: 'none',
      queues: { default: {} },
    });
    worker = await startWorker({ redisUrl: redis.url, prefix, queue: { concurrency: 10 } });

    const payloads = Array.from({ length: good }, (_, n) => ({ n }));
    payloads.splice(poisonAt, 0, { n: -1, poison: true } as { n: number });
    await api.get(TaskProducer).enqueueMany(LedgerTask, payloads);

    const current = ledger;
    const deadLetters = api.get(DeadLetters);
    await until(
      async () => (await current.done()) >= good && (await deadLetters.count('default')) >= 1,
      120_000,
      'good jobs to finish and the poison one to be dead-lettered',
    );
    const figures = await ledger.check(Array.from({ length: good }, (_, n) => n));
    const letters = await deadLetters.list('default');
    report({
      scenario: 'poison job',
      items: good + 1,
      faults: 1,
      ran: figures.ran,
      lost: figures.lost.length,
      runs: figures.runs,
      duplicatesAbsorbed: figures.duplicatesAbsorbed,
      deadLettered: letters.length,
    });
    expect(figures.lost).toEqual([]);
    expect(letters).toHaveLength(1);
    expect(letters[0]).toMatchObject({
      taskName: 'fault.ledger',
      payload: { n: -1, poison: true },
      attemptsMade: 3,
      error: { message: 'poison item -1' },
    });
    expect(worker.process.exitCode).toBeNull();
    expect(worker.process.signalCode).toBeNull();
  });
});
