import { Injectable } from '@nestjs/common';
import { defineTask, Task, TaskControl, TaskProducer, TaskWorkers } from '@conveyor/tasks';
import { RunControls, TasksRegistry } from '@conveyor/tasks/internal';
import type { JobType, Worker } from 'bullmq';
import { closeRawQueue, rawQueue } from '../support/redis';
import { eventually, startTasksApp, stopAll, type TestApp } from '../support/tasks-app';

const Export = defineTask<{ n: number }, number>('export.run', { queue: 'exports' });
const Limited = defineTask<{ n: number }, number>('export.limited', {
  queue: 'exports',
  maxConcurrent: 1,
});
const Ping = defineTask<{ n: number }, number>('export.ping', { queue: 'exports' });

/**
 * Runs held until the test lets them go, counted across the apps of a test (they stand for
 * worker processes), so "how many at once" is a state the test reads, not a timing.
 */
class Board {
  readonly started: number[] = [];
  running = 0;
  maxRunning = 0;
  private readonly waiting: Array<() => void> = [];
  holding = true;

  async run(n: number): Promise<number> {
    this.started.push(n);
    this.running++;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    if (this.holding) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.running--;
    return n;
  }

  release(): void {
    this.holding = false;
    for (const resolve of this.waiting.splice(0)) resolve();
  }
}

let board: Board;

@Injectable()
class Exports {
  @Task(Export)
  run({ n }: { n: number }): Promise<number> {
    return board.run(n);
  }

  @Task(Limited)
  limited({ n }: { n: number }): Promise<number> {
    return board.run(n);
  }

  @Task(Ping)
  ping({ n }: { n: number }): number {
    return n;
  }
}

const queues = { exports: { concurrency: 5 } };

describe('TaskControl: task limits, task pause and queue limits across processes', () => {
  let api: TestApp | undefined;
  let workers: TestApp[] = [];
  beforeEach(() => (board = new Board()));
  afterEach(async () => {
    board.release();
    await stopAll(api, ...workers);
    api = undefined;
    workers = [];
  });

  async function start(): Promise<{ control: TaskControl; producer: TaskProducer }> {
    api = await startTasksApp([Exports], { workers: 'none', queues });
    workers = [
      await startTasksApp([Exports], { prefix: api.prefix, queues }),
      await startTasksApp([Exports], { prefix: api.prefix, queues }),
    ];
    return { control: api.get(TaskControl), producer: api.get(TaskProducer) };
  }

  async function counts(...states: JobType[]): Promise<Record<string, number>> {
    const queue = rawQueue(api!.prefix, 'exports');
    try {
      return await queue.getJobCounts(...states);
    } finally {
      await closeRawQueue(queue);
    }
  }

  it('pauses one task in every process: its jobs wait parked, the queue runs on, and resume runs them all', async () => {
    const { control, producer } = await start();
    board.release();
    await control.pauseTask(Export);
    expect(await control.isTaskPaused('export.run')).toBe(true);
    // Each worker process hears of it before the jobs come.
    await eventually(
      () => workers.every((w) => w.get(RunControls).isPaused('export.run')),
      5_000,
      'every worker to know the task is paused',
    );
    const paused = await producer.enqueueMany(
      Export,
      Array.from({ length: 30 }, (_, i) => ({ n: i })),
    );
    const ping = await producer.enqueue(Ping, { n: 7 });
    // Another task of the same queue runs while export.run is paused.
    await expect(ping.result({ timeout: '10s' })).resolves.toBe(7);
    await eventually(
      async () => (await counts('delayed')).delayed === 30,
      10_000,
      'the paused task’s jobs to wait, parked',
    );
    expect(board.started).toEqual([]);
    for (const handle of paused.slice(0, 3)) {
      expect(await handle.info()).toMatchObject({ attemptsMade: 0 });
    }
    const listed = (await control.limits()).find((q) => q.queue === 'exports');
    expect(listed?.tasks).toContainEqual(
      expect.objectContaining({ task: 'export.run', paused: true }),
    );

    await control.resumeTask(Export);
    await expect(Promise.all(paused.map((h) => h.result({ timeout: '20s' })))).resolves.toEqual(
      Array.from({ length: 30 }, (_, i) => i),
    );
    expect(await control.isTaskPaused('export.run')).toBe(false);
  });

  it('raises a task’s maxConcurrent at run time: jobs parked behind the old limit start at once', async () => {
    const { control, producer } = await start();
    const handles = await producer.enqueueMany(
      Limited,
      Array.from({ length: 4 }, (_, i) => ({ n: i })),
    );
    await eventually(() => board.running === 1, 10_000, 'the first run');
    await eventually(
      async () => (await counts('delayed')).delayed === 3,
      10_000,
      'the other three to park behind the limit of 1',
    );

    await control.setTaskLimits(Limited, { maxConcurrent: 3 });
    // The held run still holds its slot; two parked jobs take the new ones, the third waits.
    await eventually(() => board.running === 3, 10_000, 'three runs at once');
    expect((await counts('delayed')).delayed).toBe(1);
    const listed = (await control.limits())
      .find((q) => q.queue === 'exports')
      ?.tasks.find((t) => t.task === 'export.limited');
    expect(listed).toEqual({
      task: 'export.limited',
      paused: false,
      maxConcurrent: 3,
      declared: { maxConcurrent: 1 },
      overrides: { maxConcurrent: 3 },
    });

    board.release();
    await expect(Promise.all(handles.map((h) => h.result({ timeout: '10s' })))).resolves.toEqual([
      0, 1, 2, 3,
    ]);
    expect(board.maxRunning).toBe(3);
    await control.resetTaskLimits(Limited);
    const reset = (await control.limits())
      .find((q) => q.queue === 'exports')
      ?.tasks.find((t) => t.task === 'export.limited');
    expect(reset?.overrides).toEqual({});
  });

  it('limits a task that declares no limit, across two worker processes, and lifting it starts the rest', async () => {
    const { control, producer } = await start();
    await control.setTaskLimits(Export, { maxConcurrent: 2 });
    await eventually(
      async () =>
        (await control.limits())
          .find((q) => q.queue === 'exports')
          ?.tasks.find((t) => t.task === 'export.run')?.maxConcurrent === 2,
      5_000,
      'the override to be listed',
    );
    // Both processes run with the override before the jobs come (a control read each).
    await eventually(
      () =>
        workers.every(
          (w) =>
            w.get(RunControls).optionsOf(w.get(TasksRegistry).get('export.run')!).maxConcurrent ===
            2,
        ),
      5_000,
      'every worker to apply the limit',
    );
    const handles = await producer.enqueueMany(
      Export,
      Array.from({ length: 8 }, (_, i) => ({ n: i })),
    );
    await eventually(() => board.running === 2, 10_000, 'two runs');
    await eventually(
      async () => (await counts('delayed')).delayed === 6,
      10_000,
      'the rest to park behind the run-time limit',
    );
    // Ten worker slots across the two processes, and still two runs at once.
    expect(board.running).toBe(2);

    await control.setTaskLimits(Export, { maxConcurrent: null });
    await eventually(() => board.running === 8, 10_000, 'every job to start once lifted');
    board.release();
    await expect(
      Promise.all(handles.map((h) => h.result({ timeout: '10s' }))),
    ).resolves.toHaveLength(8);
  });

  it('limits a queue across workers with BullMQ’s global concurrency, and sets its rate limit in every process', async () => {
    const { control, producer } = await start();
    await control.setQueueLimits('exports', { maxConcurrent: 1, rateLimit: '500/m' });
    await eventually(
      () =>
        workers.every((w) => {
          const worker = (
            w.get(TaskWorkers) as unknown as { workers: Map<string, Worker> }
          ).workers.get('exports');
          return worker?.opts.limiter?.max === 500 && worker.opts.limiter.duration === 60_000;
        }),
      5_000,
      'every worker process to use the rate limit',
    );
    const handles = await producer.enqueueMany(
      Export,
      Array.from({ length: 3 }, (_, i) => ({ n: i })),
    );
    await eventually(() => board.running === 1, 10_000, 'one run');
    expect(await counts('active', 'waiting')).toEqual({ active: 1, waiting: 2 });
    const listed = (await control.limits()).find((q) => q.queue === 'exports');
    expect(listed).toMatchObject({
      maxConcurrent: 1,
      rateLimit: { max: 500, durationMs: 60_000 },
      overrides: { maxConcurrent: 1, rateLimit: { max: 500, durationMs: 60_000 } },
    });

    await control.resetQueueLimits('exports');
    // Unlimited again: BullMQ takes the waiting jobs once the held run lets its worker fetch.
    board.release();
    await expect(Promise.all(handles.map((h) => h.result({ timeout: '10s' })))).resolves.toEqual([
      0, 1, 2,
    ]);
    const reset = (await control.limits()).find((q) => q.queue === 'exports');
    expect(reset?.overrides).toEqual({});
    expect(reset?.maxConcurrent).toBeUndefined();
  });
});
