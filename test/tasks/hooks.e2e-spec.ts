import { Injectable } from '@nestjs/common';
import { defineTask, Task, type TaskEvent, type TaskContext, TaskProducer } from '@conveyor/tasks';
import { eventually, startTasksApp, stopAll, type TestApp } from '../support/tasks-app';

type Seen = Array<[string, Partial<TaskEvent> & { willRetry?: boolean; result?: unknown }]>;
const seen: Seen = [];

const Sum = defineTask<{ xs: number[] }, number>('sum', {
  onSuccess: ({ jobId, result }) => void seen.push(['task:success', { jobId, result }]),
});
const Flaky = defineTask<{ failures: number }, string>('flaky-hooked', {
  attempts: 2,
  backoff: { type: 'fixed', delay: 10 },
  onFailure: ({ attempt, willRetry }) => void seen.push(['task:failure', { attempt, willRetry }]),
  onDeadLetter: () => {
    throw new Error('a broken hook must not change the outcome');
  },
});

@Injectable()
class HookedTasks {
  @Task(Sum)
  sum({ xs }: { xs: number[] }): number {
    return xs.reduce((a, b) => a + b, 0);
  }

  @Task(Flaky)
  flaky({ failures }: { failures: number }, ctx: TaskContext): string {
    if (ctx.attempt <= failures) throw new Error(`failure ${ctx.attempt}`);
    return 'ok';
  }
}

describe('hooks', () => {
  let app: TestApp;
  beforeEach(async () => {
    seen.length = 0;
    app = await startTasksApp([HookedTasks], {
      hooks: {
        onSuccess: ({ taskName }) => void seen.push(['module:success', { taskName }]),
        onDeadLetter: ({ taskName, attempt }) =>
          void seen.push(['module:dead', { taskName, attempt }]),
      },
    });
  });
  afterEach(() => stopAll(app));

  it("calls the task's hook, then the module's, after a success", async () => {
    const handle = await app.get(TaskProducer).enqueue(Sum, { xs: [1, 2, 3] });
    await handle.result({ timeout: '10s' });
    await eventually(() => seen.length === 2, 5_000, 'both hooks');
    expect(seen).toEqual([
      ['task:success', { jobId: handle.id, result: 6 }],
      ['module:success', { taskName: 'sum' }],
    ]);
  });

  it('reports each failed attempt and the dead letter; a throwing hook is only logged', async () => {
    const handle = await app.get(TaskProducer).enqueue(Flaky, { failures: 5 });
    await expect(handle.result({ timeout: '10s' })).rejects.toMatchObject({ message: 'failure 2' });
    await eventually(() => seen.length === 3, 5_000, 'the hooks');
    expect(seen).toEqual([
      ['task:failure', { attempt: 1, willRetry: true }],
      ['task:failure', { attempt: 2, willRetry: false }],
      ['module:dead', { taskName: 'flaky-hooked', attempt: 2 }],
    ]);
    // The worker carries on after the broken hook.
    await expect(
      (await app.get(TaskProducer).enqueue(Flaky, { failures: 1 })).result({ timeout: '10s' }),
    ).resolves.toBe('ok');
  });
});
