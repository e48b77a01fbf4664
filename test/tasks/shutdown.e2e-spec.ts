import { Injectable } from '@nestjs/common';
import {
  defineTask,
  Task,
  type TaskContext,
  TaskInstrumentation,
  TaskProducer,
} from '@conveyor/tasks';
import { PrivateRedis } from '../support/private-redis';
import { uniquePrefix } from '../support/redis';
import { eventually, startTasksApp, stopAll, type TestApp } from '../support/tasks-app';

const Slow = defineTask<{ ms: number }, string>('slow');

const hooked: string[] = [];
let politeRuns = 0;
/** Stops as soon as its signal aborts, as a well-behaved handler does; reports every hook. */
const Polite = defineTask<{ n: number }, string>('polite', {
  onFailure: (event) => void hooked.push(`failure:${event.jobId}`),
  onDeadLetter: (event) => void hooked.push(`dead-letter:${event.jobId}`),
});

@Injectable()
class PoliteTasks {
  readonly started: string[] = [];

  @Task(Polite)
  async polite(_: { n: number }, ctx: TaskContext): Promise<string> {
    this.started.push(ctx.jobId);
    // The first run (in the app that shuts down) waits for its signal; the next one returns.
    await new Promise<void>((resolve, reject) => {
      if (++politeRuns > 1) return resolve();
      ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason as Error));
    });
    return `done by attempt ${ctx.attempt}`;
  }
}

/** Runs for `ms`, ignoring its abort signal on purpose, like a careless handler would. */
@Injectable()
class SlowTasks {
  readonly started: string[] = [];
  readonly finished: string[] = [];
  aborted?: unknown;

  @Task(Slow)
  async slow({ ms }: { ms: number }, ctx: TaskContext): Promise<string> {
    this.started.push(ctx.jobId);
    ctx.signal.addEventListener('abort', () => (this.aborted = ctx.signal.reason));
    // unref: a run abandoned by the test must not keep Jest's worker alive afterwards.
    await new Promise((resolve) => setTimeout(resolve, ms).unref());
    this.finished.push(ctx.jobId);
    return `done by attempt ${ctx.attempt}`;
  }
}

describe('graceful shutdown', () => {
  let first: TestApp | undefined;
  let second: TestApp | undefined;
  afterEach(async () => {
    await stopAll(first, second);
    first = second = undefined;
  });

  it('lets a job in flight finish before the app closes', async () => {
    first = await startTasksApp([SlowTasks], { shutdownTimeout: '10s' });
    const handle = await first.get(TaskProducer).enqueue(Slow, { ms: 500 });
    const tasks = first.get(SlowTasks);
    await eventually(() => tasks.started.length === 1, 5_000, 'the job to start');

    await first.close();

    expect(tasks.finished).toEqual([handle.id]);
    expect(tasks.aborted).toBeUndefined();
    // Read the outcome through a fresh app on the same prefix: the job completed.
    second = await startTasksApp([], { prefix: first.prefix, workers: 'none' });
    await expect(second.get(TaskProducer).handle(Slow, handle.id).state()).resolves.toBe(
      'completed',
    );
  });

  it('hands a job that outlives the deadline back to the queue, where another worker completes it', async () => {
    const prefix = uniquePrefix();
    first = await startTasksApp([SlowTasks], { prefix, shutdownTimeout: 200 });
    const handle = await first.get(TaskProducer).enqueue(Slow, { ms: 3_000 });
    const firstTasks = first.get(SlowTasks);
    await eventually(() => firstTasks.started.length === 1, 5_000, 'the job to start');

    await first.close();

    expect(firstTasks.finished).toEqual([]);
    expect(firstTasks.aborted).toMatchObject({ name: 'ShutdownAbortReason' });

    second = await startTasksApp([SlowTasks], { prefix });
    const result = await second
      .get(TaskProducer)
      .handle(Slow, handle.id)
      .result({ timeout: '10s' });
    // Handed back, not failed: the second run is still the first attempt.
    expect(result).toBe('done by attempt 1');
    expect(second.get(SlowTasks).finished).toEqual([handle.id]);
  });

  it('reports a job handed back at the deadline as handed back: no failure, no dead letter', async () => {
    const prefix = uniquePrefix();
    hooked.length = 0;
    politeRuns = 0;
    first = await startTasksApp([PoliteTasks], { prefix, shutdownTimeout: 100 });
    const failures: string[] = [];
    first.get(TaskInstrumentation).observe({
      failed: (task, _queue, _ms, outcome) => failures.push(`${task}:${outcome}`),
      deadLettered: (task) => failures.push(`dead:${task}`),
    });
    const handle = await first.get(TaskProducer).enqueue(Polite, { n: 1 });
    await eventually(() => first!.get(PoliteTasks).started.length === 1, 5_000, 'the run');

    // The handler rejects with the shutdown's reason the moment its signal aborts.
    await first.close();

    expect(hooked).toEqual([]);
    expect(failures).toEqual([]);
    second = await startTasksApp([PoliteTasks], { prefix });
    const result = await second
      .get(TaskProducer)
      .handle(Polite, handle.id)
      .result({ timeout: '10s' });
    expect(result).toBe('done by attempt 1');
    expect(hooked).toEqual([]);
  });

  it('closes an idle app without waiting out shutdownTimeout when Redis is down', async () => {
    // BullMQ's close() of an idle worker whose blocking connection is reconnecting waits for
    // nothing (taskforcesh/bullmq#4656; also seen just after a Redis restart). With nothing in
    // flight there is nothing to wait for: the task workers and the workflow worker must not
    // sit out an hour's deadline.
    const redis = await PrivateRedis.start();
    try {
      const app = await startTasksApp([SlowTasks], {
        connection: redis.url,
        shutdownTimeout: '1h',
      });
      await app.get(TaskProducer).enqueue(Slow, { ms: 1 });
      await eventually(() => app.get(SlowTasks).finished.length === 1, 5_000, 'the run');
      await redis.stop();
      // Jest's 30 s timeout fails this test if any close waits for the deadline.
      await app.close();
    } finally {
      await redis.destroy();
    }
  });
});
