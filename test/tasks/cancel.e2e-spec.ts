import { Injectable } from '@nestjs/common';
import {
  DeadLetters,
  defineTask,
  Task,
  TaskCancelledError,
  type TaskContext,
  TaskProducer,
} from '@conveyor/tasks';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { REDIS_URL, uniquePrefix } from '../support/redis';
import { eventually, startTasksApp, stopAll, type TestApp } from '../support/tasks-app';

const Export = defineTask<{ rows: number }, string>('report.export', {
  attempts: 3,
  backoff: { type: 'fixed', delay: 10 },
});

@Injectable()
class ExportTasks {
  readonly started: string[] = [];
  abortReason?: unknown;

  @Task(Export)
  async export(_: { rows: number }, ctx: TaskContext): Promise<string> {
    this.started.push(ctx.jobId);
    await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve()));
    this.abortReason = ctx.signal.reason;
    return 'stopped early';
  }
}

const Quick = defineTask<{ n: number }, number>('report.quick');

@Injectable()
class QuickTasks {
  @Task(Quick)
  quick({ n }: { n: number }): number {
    return n;
  }
}

describe('cancel', () => {
  let api: TestApp | undefined;
  let worker: TestApp | undefined;
  afterEach(async () => {
    await stopAll(api, worker);
    api = worker = undefined;
  });

  it('aborts a running job from a different process; it ends cancelled, not retried nor dead-lettered', async () => {
    const prefix = uniquePrefix();
    api = await startTasksApp([], { prefix, workers: 'none', queues: { default: {} } });
    worker = await startTasksApp([ExportTasks], { prefix });
    const handle = await api.get(TaskProducer).enqueue(Export, { rows: 1e6 });
    const tasks = worker.get(ExportTasks);
    await eventually(() => tasks.started.length === 1, 10_000, 'the export to start');

    await expect(api.get(TaskProducer).cancel(handle.id, 'user clicked stop')).resolves.toBe(
      'signalled',
    );

    await eventually(() => tasks.abortReason, 10_000, 'the handler to see the abort');
    expect(tasks.abortReason).toBeInstanceOf(TaskCancelledError);
    const error = await handle.result({ timeout: '10s' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TaskCancelledError);
    expect((error as TaskCancelledError).reason).toBe('user clicked stop');
    await expect(handle.state()).resolves.toBe('cancelled');
    expect(tasks.started).toEqual([handle.id]);
    expect(await api.get(DeadLetters).count()).toBe(0);
  });

  it('removes a waiting job before it starts', async () => {
    api = await startTasksApp([ExportTasks], { workers: 'none' });
    const handle = await api.get(TaskProducer).enqueue(Export, { rows: 1 }, { delay: '1h' });
    await expect(handle.cancel()).resolves.toBe('removed');
    await expect(handle.state()).resolves.toBe('cancelled');
    await expect(handle.result({ timeout: '5s' })).rejects.toBeInstanceOf(TaskCancelledError);
    await expect(api.get(TaskProducer).cancel('no-such-job')).resolves.toBe('not-found');
  });

  it('ends a job cancelled while its worker was gone, when another worker gets it, without running it', async () => {
    const prefix = uniquePrefix();
    api = await startTasksApp([], { prefix, workers: 'none', queues: { default: {} } });
    const handle = await api.get(TaskProducer).enqueue(Export, { rows: 1 });
    // A worker takes the job and dies with it: its lock runs out, nobody hears the cancel.
    const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    const dead = new Worker('default', null, {
      connection,
      prefix: `{${prefix}}`,
      lockDuration: 500,
    });
    const taken = await dead.getNextJob('dead-worker-token');
    expect(taken?.id).toBe(handle.id);
    await expect(handle.cancel('no longer needed')).resolves.toBe('signalled');
    await dead.close();
    connection.disconnect();

    // A new worker gives the stalled job back and takes it: it must not run it.
    worker = await startTasksApp([ExportTasks], {
      prefix,
      queues: { default: { stalledInterval: 300, maxStalledCount: 5 } },
    });
    const error = await handle.result({ timeout: '15s' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TaskCancelledError);
    expect((error as TaskCancelledError).reason).toBe('no longer needed');
    expect(worker.get(ExportTasks).started).toEqual([]);
    await expect(handle.state()).resolves.toBe('cancelled');
  });

  it('answers finished for a job that completed first, and its state stays completed', async () => {
    const prefix = uniquePrefix();
    api = await startTasksApp([], { prefix, workers: 'none', queues: { default: {} } });
    worker = await startTasksApp([QuickTasks], { prefix });
    const handle = await api.get(TaskProducer).enqueue(Quick, { n: 1 });
    await expect(handle.result({ timeout: '10s' })).resolves.toBe(1);
    await expect(handle.cancel()).resolves.toBe('finished');
    await expect(handle.state()).resolves.toBe('completed');
    // No cancel mark was left behind to speak for the job once it is removed.
    const redis = new Redis(REDIS_URL);
    const marks = await redis.keys(`{${prefix}}:*cancel*`);
    redis.disconnect();
    expect(marks).toEqual([]);
  });
});
