import { DeadLetters, TaskProducer } from '@conveyor/tasks';
import { uniquePrefix } from '../support/redis';
import { startTasksApp } from '../support/tasks-app';
import { LedgerTask } from '../support/children/ledger-task';
import { faultRig, items, Ledger, report, sleep, startWorker, until } from './ledger';

const QUEUE = { concurrency: 10, lockDuration: 2_000, stalledInterval: 1_000, maxStalledCount: 1 };

describe('fault 6: graceful shutdown under load', () => {
  const rig = faultRig();

  it('finishes or hands back in-flight jobs of SIGTERMed workers; none lost', async () => {
    const total = items(600, 5_000);
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
    const base = { redisUrl: rig.redis.url, prefix, queue: QUEUE, workMs: 150 };
    // One worker has time to finish its jobs on SIGTERM; the other's deadline is shorter than
    // a job, so it must hand its jobs back to the queue.
    const patient = await startWorker({ ...base, shutdownTimeoutMs: 10_000 });
    const hasty = await startWorker({ ...base, shutdownTimeoutMs: 50 });
    rig.workers.push(patient, hasty);
    await api.get(TaskProducer).enqueueMany(
      LedgerTask,
      Array.from({ length: total }, (_, n) => ({ n })),
    );

    const current = ledger;
    await until(async () => (await current.done()) >= 40, 60_000, 'the workers to be busy');
    const exits = await Promise.all(
      [patient, hasty].map(
        (worker) =>
          new Promise<string>((resolve) => {
            worker.process.once('exit', (code, signal) => resolve(`${code ?? signal}`));
            worker.process.kill('SIGTERM');
          }),
      ),
    );
    const ranBeforeRestart = await current.done();
    await sleep(200);
    rig.workers.push(await startWorker({ ...base, workMs: 5 }));
    await until(async () => (await current.done()) >= total, 120_000, 'every job to run');

    const figures = await ledger.check(Array.from({ length: total }, (_, n) => n));
    const deadLettered = await api.get(DeadLetters).count('default');
    report({
      scenario: 'graceful shutdown (SIGTERM)',
      items: total,
      faults: 2,
      ran: figures.ran,
      lost: figures.lost.length,
      runs: figures.runs,
      duplicatesAbsorbed: figures.duplicatesAbsorbed,
      ranBeforeRestart,
      deadLettered,
    });
    // Both stopped by themselves (Nest re-raises the signal after closing the app).
    expect(exits).toEqual(['SIGTERM', 'SIGTERM']);
    expect(figures.lost).toEqual([]);
    expect(deadLettered).toBe(0);
  });
});
