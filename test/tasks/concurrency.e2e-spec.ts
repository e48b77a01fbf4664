import { Injectable } from '@nestjs/common';
import { defineTask, Task, type TaskContext, TaskProducer } from '@conveyor/tasks';
import { uniquePrefix } from '../support/redis';
import { eventually, startTasksApp, stopAll, type TestApp } from '../support/tasks-app';

const Sleep = defineTask<{ ms: number }, void>('sleep', { queue: 'wide' });
const Record = defineTask<{ label: string }, void>('record', { queue: 'narrow' });

@Injectable()
class Probe {
  running = 0;
  peak = 0;
  readonly order: string[] = [];

  @Task(Sleep)
  async sleep({ ms }: { ms: number }): Promise<void> {
    this.peak = Math.max(this.peak, ++this.running);
    await new Promise((resolve) => setTimeout(resolve, ms));
    this.running--;
  }

  @Task(Record)
  record({ label }: { label: string }, _ctx: TaskContext): void {
    this.order.push(label);
  }
}

describe('queue concurrency and priority', () => {
  let api: TestApp | undefined;
  let worker: TestApp | undefined;
  afterEach(async () => {
    await stopAll(api, worker);
    api = worker = undefined;
  });

  it('runs up to the queue concurrency at once in one process, and no more', async () => {
    worker = await startTasksApp([Probe], { queues: { wide: { concurrency: 4 }, narrow: {} } });
    const handles = await worker.get(TaskProducer).enqueueMany(
      Sleep,
      Array.from({ length: 12 }, () => ({ ms: 150 })),
    );
    await Promise.all(handles.map((handle) => handle.result({ timeout: '10s' })));
    expect(worker.get(Probe).peak).toBe(4);
  });

  it('starts higher-priority jobs first (1 is the highest)', async () => {
    const prefix = uniquePrefix();
    api = await startTasksApp([Probe], { prefix, workers: 'none' });
    const producer = api.get(TaskProducer);
    await producer.enqueue(Record, { label: 'low' }, { priority: 10 });
    await producer.enqueue(Record, { label: 'none' });
    await producer.enqueue(Record, { label: 'high' }, { priority: 1 });
    await producer.enqueue(Record, { label: 'mid' }, { priority: 5 });

    worker = await startTasksApp([Probe], { prefix, workers: ['narrow'] });
    const probe = worker.get(Probe);
    await eventually(() => probe.order.length === 4, 10_000, 'all four jobs');
    // BullMQ runs jobs without a priority before prioritized ones.
    expect(probe.order).toEqual(['none', 'high', 'mid', 'low']);
  });
});
