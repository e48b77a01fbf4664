import { Injectable } from '@nestjs/common';
import { defineTask, Task, TaskProducer, TaskWorkers } from '@conveyor/tasks';
import { closeRawQueue, rawQueue, uniquePrefix } from '../support/redis';
import { startTasksApp, stopAll, type TestApp } from '../support/tasks-app';

const Resize = defineTask<{ image: string }, { pid: string }>('image.resize', { queue: 'images' });
const Index = defineTask<{ doc: string }, string>('search.index', { queue: 'search' });

/** The same handlers in every process, as in one codebase deployed in several roles. */
@Injectable()
class Handlers {
  constructor(private readonly role: string) {}

  @Task(Resize)
  resize(): { pid: string } {
    return { pid: this.role };
  }

  @Task(Index)
  index({ doc }: { doc: string }): string {
    return `${doc}@${this.role}`;
  }
}

const handlersFor = (role: string) => ({ provide: Handlers, useValue: new Handlers(role) });

describe('process roles', () => {
  let api: TestApp | undefined;
  let worker: TestApp | undefined;
  const savedEnv = process.env.CONVEYOR_WORKERS;

  afterEach(async () => {
    // Assigning undefined would store the string "undefined" (process.env holds strings).
    if (savedEnv === undefined) delete process.env.CONVEYOR_WORKERS;
    else process.env.CONVEYOR_WORKERS = savedEnv;
    await stopAll(api, worker);
    api = worker = undefined;
  });

  it('lets an API-only process enqueue what a worker-only process consumes', async () => {
    const prefix = uniquePrefix();
    api = await startTasksApp([handlersFor('api')], { prefix, workers: 'none' });
    worker = await startTasksApp([handlersFor('worker')], { prefix, workers: ['images'] });

    expect(api.get(TaskWorkers).queues).toEqual([]);
    expect(worker.get(TaskWorkers).queues).toEqual(['images']);

    const handle = await api.get(TaskProducer).enqueue(Resize, { image: 'cat.png' });
    await expect(handle.result({ timeout: '10s' })).resolves.toEqual({ pid: 'worker' });

    // The worker consumes only the queue it was given: a search job waits. An images job
    // enqueued after it has run, so the worker was taking jobs all along; Redis lists the
    // worker's blocking client on 'images' (the check can see a worker) and none on 'search'.
    const waiting = await api.get(TaskProducer).enqueue(Index, { doc: 'readme' });
    const later = await api.get(TaskProducer).enqueue(Resize, { image: 'dog.png' });
    await expect(later.result({ timeout: '10s' })).resolves.toEqual({ pid: 'worker' });
    await expect(waiting.state()).resolves.toBe('waiting');
    const [images, search] = [rawQueue(prefix, 'images'), rawQueue(prefix, 'search')];
    try {
      expect(await images.getWorkersCount()).toBeGreaterThan(0);
      expect(await search.getWorkersCount()).toBe(0);
    } finally {
      await Promise.all([images, search].map(closeRawQueue));
    }
  });

  it('takes the queues to consume from CONVEYOR_WORKERS when the option is left out', async () => {
    process.env.CONVEYOR_WORKERS = 'search';
    worker = await startTasksApp([handlersFor('env')]);
    expect(worker.get(TaskWorkers).queues).toEqual(['search']);
    const handle = await worker.get(TaskProducer).enqueue(Index, { doc: 'guide' });
    await expect(handle.result({ timeout: '10s' })).resolves.toBe('guide@env');
  });

  it('consumes every queue that has a handler with the default "all"', async () => {
    delete process.env.CONVEYOR_WORKERS;
    worker = await startTasksApp([handlersFor('all')]);
    expect(worker.get(TaskWorkers).queues.sort()).toEqual(['images', 'search']);
  });
});
