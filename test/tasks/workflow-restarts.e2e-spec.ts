import { Injectable } from '@nestjs/common';
import { step, Task, type TaskContext, TaskProducer } from '@conveyor/tasks';
import { eventually, startTasksApp, stopAll, type TestApp } from '../support/tasks-app';
import { Square, Tally } from './workflow-fixtures';

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** Chord members and callback that record what ran where, and can hold members back. */
@Injectable()
class RestartTasks {
  readonly started: string[] = [];
  readonly finished: string[] = [];
  readonly callbacks: unknown[][] = [];
  /** Members that start after this many have started wait until `release()`. */
  holdAfter = Infinity;
  release!: () => void;
  private readonly held = new Promise<void>((resolve) => (this.release = resolve));

  @Task(Square)
  async square({ i }: { i: number }, ctx: TaskContext): Promise<number> {
    this.started.push(ctx.jobId);
    if (this.started.length > this.holdAfter) {
      await this.held;
      return -1; // handed back by then, so this outcome is ignored (else the sum is wrong)
    }
    this.finished.push(ctx.jobId);
    return i * i;
  }

  @Task(Tally)
  tally(payload: unknown[]): { sum: number; failed: number[] } {
    this.callbacks.push(payload);
    return { sum: payload.reduce((a: number, b) => a + Number(b), 0), failed: [] };
  }
}

describe('workflows across restarts', () => {
  const apps: TestApp[] = [];
  afterEach(async () => {
    await stopAll(...apps);
    apps.length = 0;
  });

  it('finishes a chord after its worker restarts mid-way, without loss or a second callback', async () => {
    const producerApp = await startTasksApp([RestartTasks], { workers: 'none' });
    apps.push(producerApp);
    const { prefix } = producerApp;
    const worker = () =>
      startTasksApp([RestartTasks], {
        prefix,
        queues: { default: { concurrency: 2 } },
        // Members still held when the deadline passes are handed back to the queue.
        shutdownTimeout: 100,
      });

    // The first worker finishes six members, then holds the next two (its two slots) until
    // it is stopped: it stops mid-way by construction, whatever the speed of the machine.
    const first = await worker();
    apps.push(first);
    const firstTasks = first.get(RestartTasks);
    firstTasks.holdAfter = 6;
    const handle = await producerApp.get(TaskProducer).chord(
      range(30).map((i) => step(Square, { i })),
      step(Tally),
    );
    await eventually(() => firstTasks.started.length === 8, 20_000, 'two members to be held');
    await first.close();
    firstTasks.release(); // settles the handed-back runs; their outcome is ignored
    expect(firstTasks.started).toHaveLength(8);
    expect(firstTasks.finished).toHaveLength(6);
    expect(firstTasks.callbacks).toEqual([]);

    const second = await worker();
    apps.push(second);
    const secondTasks = second.get(RestartTasks);
    const squares = range(30).map((i) => i * i);
    await expect(handle.result({ timeout: '20s' })).resolves.toEqual({
      sum: squares.reduce((sum, n) => sum + n, 0),
      failed: [],
    });
    // One callback, with every member's result in order.
    expect(secondTasks.callbacks).toEqual([squares]);
    expect(firstTasks.callbacks).toEqual([]);
    // Every member finished exactly once: the six done before the restart were not run
    // again, and the two handed back (and the 22 never started) finished after it.
    const finished = [...firstTasks.finished, ...secondTasks.finished];
    expect(finished).toHaveLength(30);
    expect(new Set(finished).size).toBe(30);
    const handedBack = firstTasks.started.slice(6);
    expect(secondTasks.finished).toEqual(expect.arrayContaining(handedBack));
  });
});
