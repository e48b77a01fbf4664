import { hostname } from 'node:os';
import { Injectable } from '@nestjs/common';
import {
  DeadLetters,
  defineTask,
  Task,
  type TaskContext,
  TaskProducer,
  TaskResultError,
} from '@conveyor/tasks';
import { eventually, startTasksApp, stopAll, type TestApp } from '../support/tasks-app';

const Measure = defineTask<{ n: number }, { squared: number }>('info.measure', {
  attempts: 2,
  backoff: { type: 'fixed', delay: 10 },
});
const Fail = defineTask<{ why: string }, never>('info.fail', {
  attempts: 2,
  backoff: { type: 'fixed', delay: 10 },
});
const Hold = defineTask<{ id: number }, string>('info.hold');
const Notify = defineTask<{ to: string }, string>('info.notify', { resultTtl: 0 });

@Injectable()
class InfoTasks {
  readonly notified: string[] = [];
  private readonly gates = new Map<number, () => void>();

  @Task(Measure)
  async measure({ n }: { n: number }, ctx: TaskContext) {
    await ctx.progress(50);
    if (ctx.attempt === 1) throw new RangeError('first attempt fails');
    return { squared: n * n };
  }

  @Task(Fail)
  fail({ why }: { why: string }): never {
    throw new TypeError(why);
  }

  @Task(Hold)
  hold({ id }: { id: number }, ctx: TaskContext): Promise<string> {
    return new Promise((resolve) => {
      this.gates.set(id, () => resolve(`released ${id}`));
      ctx.signal.addEventListener('abort', () => resolve('aborted'));
    });
  }

  @Task(Notify)
  notify({ to }: { to: string }): string {
    this.notified.push(to);
    return `sent to ${to}`;
  }

  release(id: number): boolean {
    const open = this.gates.get(id);
    open?.();
    return open !== undefined;
  }
}

describe('a job record: info(), forget() and fire-and-forget tasks', () => {
  let app: TestApp;
  let producer: TaskProducer;

  beforeEach(async () => {
    app = await startTasksApp([InfoTasks]);
    producer = app.get(TaskProducer);
  });
  afterEach(() => stopAll(app));

  it('info() gives state, attempts, times, the worker, the result and the last error', async () => {
    const handle = await producer.enqueue(Measure, { n: 7 });
    await handle.result({ timeout: '10s' });

    const info = (await handle.info())!;

    expect(info).toMatchObject({
      id: handle.id,
      taskName: 'info.measure',
      queue: 'default',
      state: 'completed',
      attemptsMade: 2,
      maxAttempts: 2,
      result: { squared: 49 },
      lastError: { name: 'RangeError', message: 'first attempt fails' },
      progress: 50,
      worker: { host: hostname(), pid: process.pid },
    });
    expect(info.startedAt!.getTime()).toBeGreaterThanOrEqual(info.enqueuedAt.getTime());
    expect(info.finishedAt!.getTime()).toBeGreaterThanOrEqual(info.startedAt!.getTime());
  });

  it('info() of a dead letter carries its final error, and of a running job no finish', async () => {
    const failed = await producer.enqueue(Fail, { why: 'no card' });
    await expect(failed.result({ timeout: '10s' })).rejects.toThrow('no card');
    expect(await failed.info()).toMatchObject({
      state: 'dead-lettered',
      attemptsMade: 2,
      lastError: { name: 'TypeError', message: 'no card' },
    });

    const running = await producer.enqueue(Hold, { id: 1 });
    const active = (await eventually(async () => {
      const info = await running.info();
      return info?.state === 'active' ? info : undefined;
    }))!;
    expect(active.finishedAt).toBeUndefined();
    expect(active.startedAt).toBeInstanceOf(Date);
    expect(active.worker?.pid).toBe(process.pid);
    app.get(InfoTasks).release(1);
  });

  it('forget() drops a finished job: its state is forgotten and its result gone', async () => {
    const handle = await producer.enqueue(Measure, { n: 3 });
    await handle.result({ timeout: '10s' });

    await expect(handle.forget()).resolves.toBe('forgotten');

    await expect(handle.state()).resolves.toBe('forgotten');
    await expect(handle.info()).resolves.toBeUndefined();
    await expect(handle.result()).rejects.toThrow(/forgotten/);
    await expect(handle.forget()).resolves.toBe('forgotten');
    await expect(producer.handle(Measure, 'no-such-job').forget()).resolves.toBe('not-found');
  });

  it('forget() leaves a running job alone, and takes a dead letter with it', async () => {
    const running = await producer.enqueue(Hold, { id: 2 });
    await eventually(async () => (await running.state()) === 'active');
    await expect(running.forget()).resolves.toBe('not-finished');
    expect(app.get(InfoTasks).release(2)).toBe(true);
    await expect(running.result({ timeout: '10s' })).resolves.toBe('released 2');

    const failed = await producer.enqueue(Fail, { why: 'gone' });
    await expect(failed.result({ timeout: '10s' })).rejects.toThrow('gone');
    const deadLetters = app.get(DeadLetters);
    expect(await deadLetters.count('default')).toBe(1);
    await expect(failed.forget()).resolves.toBe('forgotten');
    expect(await deadLetters.count('default')).toBe(0);
  });

  it('runs a resultTtl: 0 task as fire-and-forget: no result kept, state forgotten once done', async () => {
    const handle = await producer.enqueue(Notify, { to: 'ops' });

    const error: TaskResultError = await handle.result().catch((e) => e);
    expect(error).toBeInstanceOf(TaskResultError);
    expect(error.reason).toBe('not-kept');
    await eventually(() => app.get(InfoTasks).notified.includes('ops'));
    await expect(eventually(async () => (await handle.state()) === 'forgotten')).resolves.toBe(
      true,
    );
    await expect(handle.info()).resolves.toBeUndefined();
  });
});
