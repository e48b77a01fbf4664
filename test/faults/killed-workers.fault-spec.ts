import { DeadLetters, TaskProducer } from '@conveyor/tasks';
import { uniquePrefix } from '../support/redis';
import { startTasksApp } from '../support/tasks-app';
import { LedgerTask } from '../support/children/ledger-task';
import { faultRig, items, Ledger, report, sleep, startWorker, until } from './ledger';

/** Short locks so a killed worker's jobs come back within about a second. */
const QUEUE = { concurrency: 5, lockDuration: 1_000, stalledInterval: 500, maxStalledCount: 20 };

describe('fault 1: workers SIGKILLed and restarted', () => {
  const rig = faultRig();

  it('runs every job at least once while one of three workers is killed every few seconds', async () => {
    const total = items(2_000, 10_000);
    const prefix = uniquePrefix();
    const ledger = rig.own(new Ledger(prefix));
    const api = rig.own(
      await startTasksApp([], {
        connection: rig.redis.url,
        prefix,
        workers: 'none',
        queues: { default: QUEUE },
      }),
    );
    const env = { redisUrl: rig.redis.url, prefix, queue: QUEUE, workMs: 50 };
    rig.workers.push(...(await Promise.all([0, 1, 2].map(() => startWorker(env)))));

    const producer = api.get(TaskProducer);
    for (let start = 0; start < total; start += 500) {
      const batch = Array.from({ length: Math.min(500, total - start) }, (_, i) => ({
        n: start + i,
      }));
      await producer.enqueueMany(LedgerTask, batch);
    }

    let kills = 0;
    const current = ledger;
    const deadline = Date.now() + 150_000;
    while ((await current.done()) < total && Date.now() < deadline) {
      await sleep(1_500);
      if ((await current.done()) >= total) break;
      const victim = kills % rig.workers.length;
      await rig.workers[victim].kill('SIGKILL');
      kills += 1;
      rig.workers[victim] = await startWorker(env);
    }
    await until(async () => (await current.done()) >= total, 30_000, 'every job to run');

    const figures = await ledger.check(Array.from({ length: total }, (_, n) => n));
    const deadLettered = await api.get(DeadLetters).count('default');
    report({
      scenario: 'workers SIGKILLed',
      items: total,
      faults: kills,
      ran: figures.ran,
      lost: figures.lost.length,
      runs: figures.runs,
      duplicatesAbsorbed: figures.duplicatesAbsorbed,
      deadLettered,
    });
    expect(figures.lost).toEqual([]);
    expect(kills).toBeGreaterThan(0);
    expect(deadLettered).toBe(0);
  });
});
