import { Injectable } from '@nestjs/common';
import { defineTask, Task, type TaskContext, TaskProducer } from '@conveyor/tasks';
import { closeRawQueue, rawQueue, uniquePrefix } from '../support/redis';
import { eventually, startTasksApp, stopAll, type TestApp } from '../support/tasks-app';

const Hold = defineTask<Record<string, never>, void>('hold', { queue: 'wide' });
const Record = defineTask<{ label: string }, void>('record', { queue: 'narrow' });

@Injectable()
class Probe {
  running = 0;
  peak = 0;
  readonly order: string[] = [];
  /** Lets every held job (and every later one) finish. */
  release!: () => void;
  private readonly released = new Promise<void>((resolve) => (this.release = resolve));

  @Task(Hold)
  async hold(): Promise<void> {
    this.peak = Math.max(this.peak, ++this.running);
    await this.released;
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
    const probe = worker.get(Probe);
    const handles = await worker.get(TaskProducer).enqueueMany(
      Hold,
      Array.from({ length: 12 }, () => ({})),
    );
    // Jobs hold until released, so four run at once however slow the machine is.
    const queue = rawQueue(worker.prefix, 'wide');
    try {
      await eventually(() => probe.running >= 4, 20_000, 'four jobs to run at once');
      // With its four slots full, the worker has taken no fifth job: Redis agrees.
      await expect(queue.getJobCounts('active', 'waiting')).resolves.toEqual({
        active: 4,
        waiting: 8,
      });
      expect(probe.running).toBe(4);
    } finally {
      probe.release();
      await closeRawQueue(queue);
    }
    await Promise.all(handles.map((handle) => handle.result({ timeout: '10s' })));
    expect(probe.peak).toBe(4);
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
