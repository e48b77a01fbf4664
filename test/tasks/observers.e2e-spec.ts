import { Injectable } from '@nestjs/common';
import {
  defineTask,
  Task,
  type TaskContext,
  TaskInstrumentation,
  type TaskObserver,
  TaskProducer,
} from '@conveyor/tasks';
import { startTasksApp, stopAll, type TestApp } from '../support/tasks-app';

const Double = defineTask<{ n: number }, number>('observed.double');
const FailsOnce = defineTask<{ n: number }, string>('observed.fails-once', {
  attempts: 2,
  backoff: { type: 'fixed', delay: 10 },
});

@Injectable()
class ObservedTasks {
  @Task(Double)
  double({ n }: { n: number }): number {
    return n * 2;
  }

  @Task(FailsOnce)
  failsOnce({ n }: { n: number }, ctx: TaskContext): string {
    if (ctx.attempt === 1) throw new Error('first attempt fails');
    return `done ${n}`;
  }
}

/** An observer broken in every method, and one that records what it was told after it. */
function observers(instrumentation: TaskInstrumentation): string[] {
  const calls: string[] = [];
  const broken = (event: string) => () => {
    calls.push(`broken:${event}`);
    throw new Error(`observer bug in ${event}`);
  };
  const throwing: TaskObserver = {
    enqueued: broken('enqueued'),
    started: broken('started'),
    succeeded: broken('succeeded'),
    failed: broken('failed'),
    deadLettered: broken('deadLettered'),
  };
  instrumentation.observe(throwing);
  instrumentation.observe({
    started: (task) => void calls.push(`ok:started:${task}`),
    succeeded: (task) => void calls.push(`ok:succeeded:${task}`),
    failed: (task, _queue, _ms, outcome) => void calls.push(`ok:failed:${task}:${outcome}`),
  });
  return calls;
}

describe('observers', () => {
  let app: TestApp;
  let calls: string[];
  beforeEach(async () => {
    app = await startTasksApp([ObservedTasks]);
    calls = observers(app.get(TaskInstrumentation));
  });
  afterEach(() => stopAll(app));

  it('a throwing observer changes no outcome: the job completes with its result', async () => {
    const handle = await app.get(TaskProducer).enqueue(Double, { n: 21 });
    await expect(handle.result({ timeout: '10s' })).resolves.toBe(42);
    expect(await handle.state()).toBe('completed');
    // Every observer still heard of each moment, the broken one first.
    expect(calls).toEqual(
      expect.arrayContaining([
        'broken:enqueued',
        'broken:started',
        'ok:started:observed.double',
        'broken:succeeded',
        'ok:succeeded:observed.double',
      ]),
    );
  });

  it('a throwing observer on a failed attempt does not stop the retry', async () => {
    const handle = await app.get(TaskProducer).enqueue(FailsOnce, { n: 1 });
    await expect(handle.result({ timeout: '10s' })).resolves.toBe('done 1');
    expect(calls).toEqual(
      expect.arrayContaining([
        'broken:failed',
        'ok:failed:observed.fails-once:retried',
        'ok:succeeded:observed.fails-once',
      ]),
    );
  });
});
