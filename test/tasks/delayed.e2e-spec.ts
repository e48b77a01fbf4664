import { TaskProducer } from '@conveyor/tasks';
import type { Redis } from 'ioredis';
import { closeRawQueue, rawQueue } from '../support/redis';
import { eventually, startTasksApp, stopAll, type TestApp } from '../support/tasks-app';
import { Add, MathTasks } from './fixtures';

describe('delayed tasks', () => {
  const apps: TestApp[] = [];
  afterEach(async () => {
    await stopAll(...apps);
    apps.length = 0;
  });

  it('runs delayed and runAt jobs once, not before they are due, after every process has restarted', async () => {
    const producerApp = await startTasksApp([MathTasks], { workers: 'none' });
    apps.push(producerApp);
    const { prefix } = producerApp;
    const producer = producerApp.get(TaskProducer);
    const delayed = await producer.enqueue(Add, { a: 1, b: 2 }, { delay: '1500ms' });
    const timed = await producer.enqueue(
      Add,
      { a: 3, b: 4 },
      { runAt: new Date(Date.now() + 1_500) },
    );
    await expect(delayed.state()).resolves.toBe('delayed');
    await expect(timed.state()).resolves.toBe('delayed');
    await producerApp.close();

    const queue = rawQueue(prefix, 'default');
    try {
      // When each job falls due, as Redis holds it (BullMQ resets `delay` once it promotes).
      const due = new Map<string, number>();
      for (const id of [delayed.id, timed.id]) {
        const job = (await queue.getJob(id))!;
        expect(job.delay).toBeGreaterThan(0);
        due.set(id, job.timestamp + job.delay);
      }

      // A worker that comes and goes (before the jobs are due, unless this machine is slow:
      // then it may run them, and the checks below still hold).
      const early = await startTasksApp([MathTasks], { prefix });
      apps.push(early);
      await early.close();

      // Both jobs fall due while no process is up, by Redis's clock; then a fresh worker.
      const redis = queue.opts.connection as Redis;
      await eventually(
        async () => {
          const [seconds, micros] = await redis.time();
          return Number(seconds) * 1_000 + Number(micros) / 1_000 >= Math.max(...due.values());
        },
        20_000,
        'both jobs to fall due',
      );
      const worker = await startTasksApp([MathTasks], { prefix });
      apps.push(worker);
      const again = worker.get(TaskProducer);
      await expect(again.handle(Add, delayed.id).result({ timeout: '20s' })).resolves.toBe(3);
      await expect(again.handle(Add, timed.id).result({ timeout: '20s' })).resolves.toBe(7);

      // Each job ran once across every process, and none started before it was due.
      const runs = [...early.get(MathTasks).seen, ...worker.get(MathTasks).seen];
      expect(runs.map((run) => run.jobId).sort()).toEqual([delayed.id, timed.id].sort());
      for (const [id, dueAt] of due) {
        const job = (await queue.getJob(id))!;
        expect(job.processedOn).toBeGreaterThanOrEqual(dueAt);
      }
    } finally {
      await closeRawQueue(queue);
    }
  });
});
