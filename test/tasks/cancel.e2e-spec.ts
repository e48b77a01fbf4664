import { Injectable } from '@nestjs/common';
import {
  DeadLetters,
  defineTask,
  Task,
  TaskCancelledError,
  type TaskContext,
  TaskProducer,
} from '@conveyor/tasks';
import { uniquePrefix } from '../support/redis';
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
});
