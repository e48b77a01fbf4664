import { TaskProducer } from '@conveyor/tasks';
import { uniquePrefix } from '../support/redis';
import { startTasksApp } from '../support/tasks-app';
import { LedgerTask } from '../support/children/ledger-task';
import { faultRig, items, Ledger, report, sleep, startWorker, until } from './ledger';

const QUEUE = { concurrency: 5, lockDuration: 1_000, stalledInterval: 500, maxStalledCount: 20 };

describe('fault 2: Redis SIGKILLed and restarted from its AOF', () => {
  const rig = faultRig();

  it('runs every acknowledged job when Redis crashes during enqueue and processing', async () => {
    const total = items(600, 5_000);
    const outages = items(2, 6);
    const prefix = uniquePrefix();
    const ledger = rig.own(new Ledger(prefix));
    const api = rig.own(
      await startTasksApp([], {
        // One retry per command, so enqueues during the outage reject and the caller's retry
        // path below is exercised (the default, 20, rides out short outages inside ioredis).
        connection: { url: rig.redis.url, maxRetriesPerRequest: 1 },
        prefix,
        workers: 'none',
        queues: { default: QUEUE },
      }),
    );
    const env = { redisUrl: rig.redis.url, prefix, queue: QUEUE, workMs: 20 };
    rig.workers.push(...(await Promise.all([0, 1].map(() => startWorker(env)))));
    const producer = api.get(TaskProducer);

    // The caller's side of the contract: an enqueue that rejects during an outage is retried
    // (with the same job id, so a retry of an add that did reach Redis is not a second job).
    const acknowledged = new Set<number>();
    let enqueueErrors = 0;
    const produce = async () => {
      for (let n = 0; n < total; n += 1) {
        for (;;) {
          try {
            await producer.enqueue(LedgerTask, { n }, { jobId: `item-${n}` });
            acknowledged.add(n);
            break;
          } catch {
            enqueueErrors += 1;
            await sleep(100);
          }
        }
        if (n % 5 === 0) await sleep(10);
      }
    };
    const crash = async () => {
      for (let i = 0; i < outages; i += 1) {
        await sleep(1_500);
        await rig.redis.stop('SIGKILL');
        await sleep(2_000);
        await rig.redis.start();
      }
    };
    await Promise.all([produce(), crash()]);

    const current = ledger;
    await until(async () => (await current.done()) >= total, 120_000, 'every job to run');
    const figures = await ledger.check(acknowledged);
    report({
      scenario: 'redis SIGKILLed + AOF restart',
      items: total,
      faults: outages,
      ran: figures.ran,
      lost: figures.lost.length,
      runs: figures.runs,
      duplicatesAbsorbed: figures.duplicatesAbsorbed,
      enqueueErrorsRetried: enqueueErrors,
    });
    expect(acknowledged.size).toBe(total);
    expect(figures.lost).toEqual([]);
  });
});
