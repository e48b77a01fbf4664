import { Injectable } from '@nestjs/common';
import {
  defineTask,
  Task,
  type TaskContext,
  TaskProducer,
  TaskTimeoutError,
} from '@conveyor/tasks';
import { startTasksApp, stopAll, type TestApp } from '../support/tasks-app';

const Polite = defineTask<Record<string, never>, string>('polite', { timeout: 100 });
const Late = defineTask<Record<string, never>, string>('late-reader', { timeout: 50 });
const Stubborn = defineTask<Record<string, never>, string>('stubborn', {
  hardTimeout: 100,
  attempts: 2,
  backoff: { type: 'fixed', delay: 10 },
});

@Injectable()
class LimitedTasks {
  reason?: unknown;

  @Task(Polite)
  async polite(_: unknown, ctx: TaskContext): Promise<string> {
    await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve()));
    this.reason = ctx.signal.reason;
    return 'cleaned up and stopped';
  }

  @Task(Late)
  async late(_: unknown, ctx: TaskContext): Promise<string> {
    // Reads the signal only after the soft limit has passed: it must already be aborted.
    await new Promise((resolve) => setTimeout(resolve, 300));
    return ctx.signal.aborted ? `aborted: ${(ctx.signal.reason as Error).name}` : 'not aborted';
  }

  @Task(Stubborn)
  async stubborn(): Promise<string> {
    await new Promise((resolve) => setTimeout(resolve, 1_000).unref());
    return 'too late';
  }
}

describe('time limits', () => {
  let app: TestApp;
  beforeEach(async () => (app = await startTasksApp([LimitedTasks])));
  afterEach(() => stopAll(app));

  it('aborts the signal at the soft limit and lets the handler finish its own way', async () => {
    const handle = await app.get(TaskProducer).enqueue(Polite, {});
    await expect(handle.result({ timeout: '5s' })).resolves.toBe('cleaned up and stopped');
    expect(app.get(LimitedTasks).reason).toBeInstanceOf(TaskTimeoutError);
    expect(app.get(LimitedTasks).reason).toMatchObject({ kind: 'soft', limitMs: 100 });
  });

  it('hands a handler that reads its signal late a signal already aborted', async () => {
    const handle = await app.get(TaskProducer).enqueue(Late, {});
    await expect(handle.result({ timeout: '5s' })).resolves.toBe('aborted: TaskTimeoutError');
  });

  it('fails the attempt at the hard limit even when the handler ignores the signal, then retries', async () => {
    const handle = await app.get(TaskProducer).enqueue(Stubborn, {});
    await expect(handle.result({ timeout: '5s' })).rejects.toMatchObject({
      errorName: 'TaskTimeoutError',
      message: 'Task "stubborn" passed its hard time limit of 100 ms',
      attemptsMade: 2,
    });
  });
});
