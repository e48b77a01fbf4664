import { Injectable } from '@nestjs/common';
import { DeadLetters, Task, type TaskContext, TaskProducer } from '@conveyor/tasks';
import { type Child, startChild } from '../support/child-process';
import { uniquePrefix } from '../support/redis';
import { startTasksApp, stopAll, type TestApp } from '../support/tasks-app';
import { Hang } from '../support/children/hanging-worker-task';

/** Short locks so that a killed worker's job comes back in about a second. */
const FAST_LOSS = { lockDuration: 1_000, stalledInterval: 500, maxStalledCount: 1 };

@Injectable()
class FinishingTasks {
  readonly runs: Array<{ jobId: string; attempt: number }> = [];

  @Task(Hang)
  finish({ n }: { n: number }, ctx: TaskContext): string {
    this.runs.push({ jobId: ctx.jobId, attempt: ctx.attempt });
    return `finished ${n}`;
  }
}

describe('lost workers', () => {
  let apps: TestApp[] = [];
  let children: Child[] = [];
  afterEach(async () => {
    await Promise.all(children.map((child) => child.kill()));
    await stopAll(...apps);
    apps = [];
    children = [];
  });

  function child(prefix: string): Child {
    const started = startChild('hanging-worker.ts', {
      CONVEYOR_PREFIX: prefix,
      QUEUE_OPTIONS: JSON.stringify(FAST_LOSS),
    });
    children.push(started);
    return started;
  }

  /** An API-only app and a hanging child worker that has started one job. */
  async function jobInChild(n: number) {
    const prefix = uniquePrefix();
    const api = await startTasksApp([], {
      prefix,
      workers: 'none',
      queues: { default: FAST_LOSS },
    });
    apps.push(api);
    const worker = child(prefix);
    await worker.waitFor(/READY/);
    const handle = await api.get(TaskProducer).enqueue(Hang, { n });
    await worker.waitFor(new RegExp(`STARTED ${handle.id}`));
    return { prefix, api, worker, handle };
  }

  it("completes a SIGKILLed worker's job on another worker", async () => {
    const { prefix, worker: doomed, handle } = await jobInChild(1);

    await doomed.kill('SIGKILL');
    const rescuer = await startTasksApp([FinishingTasks], {
      prefix,
      queues: { default: FAST_LOSS },
    });
    apps.push(rescuer);

    await expect(handle.result({ timeout: '20s' })).resolves.toBe('finished 1');
    // A lost worker is not a failed attempt: the job ran again as attempt 1.
    expect(rescuer.get(FinishingTasks).runs).toEqual([{ jobId: handle.id, attempt: 1 }]);
  });

  it('dead-letters a job whose workers keep dying instead of looping forever', async () => {
    const { prefix, api, worker: first, handle } = await jobInChild(2);
    const second = child(prefix);
    await second.waitFor(/READY/);

    await first.kill('SIGKILL'); // loss 1: the job goes back to wait and the second child takes it
    await second.waitFor(new RegExp(`STARTED ${handle.id}`));
    const third = child(prefix); // only here to run the stalled check after the next loss
    await third.waitFor(/READY/);
    await second.kill('SIGKILL'); // loss 2: more than maxStalledCount

    const error = await handle.result({ timeout: '20s' }).catch((e: unknown) => e);
    expect(error).toMatchObject({
      name: 'TaskFailedError',
      message: expect.stringMatching(/stalled more than allowable limit/),
    });
    await expect(handle.state()).resolves.toBe('dead-lettered');
    expect(await api.get(DeadLetters).count('default')).toBe(1);
  });
});
