import { TaskProducer } from '@conveyor/tasks';
import { startTasksApp, stopAll, type TestApp } from '../support/tasks-app';
import { Add, MathTasks } from './fixtures';

describe('delayed tasks', () => {
  const apps: TestApp[] = [];
  afterEach(async () => {
    await stopAll(...apps);
    apps.length = 0;
  });

  it('runs delayed and runAt jobs once after every process has restarted', async () => {
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
    await producerApp.close();

    // A worker that comes and goes before the jobs are due, then a fresh set of processes.
    const early = await startTasksApp([MathTasks], { prefix });
    apps.push(early);
    await early.close();
    expect(early.get(MathTasks).seen).toEqual([]);

    const worker = await startTasksApp([MathTasks], { prefix });
    apps.push(worker);
    const again = worker.get(TaskProducer);
    await expect(again.handle(Add, delayed.id).result({ timeout: '20s' })).resolves.toBe(3);
    await expect(again.handle(Add, timed.id).result({ timeout: '20s' })).resolves.toBe(7);
    expect(
      worker
        .get(MathTasks)
        .seen.map((run) => run.jobId)
        .sort(),
    ).toEqual([delayed.id, timed.id].sort());
  });
});
