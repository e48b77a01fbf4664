import { Injectable } from '@nestjs/common';
import {
  defineTask,
  InvalidTaskOptionsError,
  Task,
  type TaskContext,
  TaskControl,
  TaskProducer,
  TaskWorkers,
} from '@conveyor/tasks';
import { Redis } from 'ioredis';
import { closeRawQueue, rawQueue, REDIS_URL, uniquePrefix } from '../support/redis';
import { eventually, startTasksApp, stopAll, type TestApp } from '../support/tasks-app';

const Report = defineTask<{ label: string }, string>('report.build', { queue: 'reports' });

/** Each job holds until the test opens its gate, so "how many run at once" needs no clock. */
@Injectable()
class Reports {
  readonly started: string[] = [];
  running = 0;
  private readonly gates = new Map<string, () => void>();
  private readonly opened = new Set<string>();

  @Task(Report)
  async build({ label }: { label: string }, _ctx: TaskContext): Promise<string> {
    this.started.push(label);
    this.running++;
    if (!this.opened.has(label)) {
      await new Promise<void>((resolve) => this.gates.set(label, resolve));
    }
    this.running--;
    return label;
  }

  open(...labels: string[]): void {
    for (const label of labels) {
      this.opened.add(label);
      this.gates.get(label)?.();
    }
  }
}

const queues = { reports: { concurrency: 1 }, other: {} };

describe('TaskControl: queue pause and concurrency across processes', () => {
  let api: TestApp | undefined;
  let worker: TestApp | undefined;
  let late: TestApp | undefined;
  afterEach(async () => {
    // Held jobs must end, or the apps' shutdown would wait for them.
    for (const app of [worker, late]) app?.get(Reports).open(...app.get(Reports).started);
    await stopAll(api, worker, late);
    api = worker = late = undefined;
  });

  async function start(): Promise<{
    control: TaskControl;
    producer: TaskProducer;
    prefix: string;
  }> {
    const prefix = uniquePrefix();
    api = await startTasksApp([], { prefix, workers: 'none', queues });
    worker = await startTasksApp([Reports], { prefix, queues });
    return { control: api.get(TaskControl), producer: api.get(TaskProducer), prefix };
  }

  it('raises the concurrency of a worker in another process: a held job no longer blocks the next', async () => {
    const { control, producer, prefix } = await start();
    const reports = worker!.get(Reports);
    const handles = await producer.enqueueMany(Report, [{ label: 'a' }, { label: 'b' }]);
    await eventually(() => reports.started.length === 1, 10_000, 'the first job to start');
    const queue = rawQueue(prefix, 'reports');
    try {
      // At concurrency 1 the worker has taken no second job while the first is held.
      await expect(queue.getJobCounts('active', 'waiting')).resolves.toEqual({
        active: 1,
        waiting: 1,
      });
    } finally {
      await closeRawQueue(queue);
    }

    await control.setConcurrency('reports', 2);
    // Both run at once, while the first is still held.
    await eventually(() => reports.running === 2, 5_000, 'both jobs to run at once');
    expect(worker!.get(TaskWorkers).concurrencyOf('reports')).toBe(2);

    reports.open('a', 'b');
    await expect(Promise.all(handles.map((h) => h.result({ timeout: '10s' })))).resolves.toEqual([
      'a',
      'b',
    ]);
    await expect(control.limits()).resolves.toContainEqual({
      queue: 'reports',
      paused: false,
      concurrency: 2,
      declared: { concurrency: 1 },
      overrides: { concurrency: 2 },
      tasks: [],
    });

    await control.resetConcurrency('reports');
    await eventually(
      () => worker!.get(TaskWorkers).concurrencyOf('reports') === 1,
      5_000,
      'the declared concurrency to come back',
    );
    expect((await control.limits()).find((l) => l.queue === 'reports')?.overrides).toEqual({});
  });

  it('a process started after the change runs at the override', async () => {
    const { control, producer } = await start();
    await control.setConcurrency('reports', 3);
    late = await startTasksApp([Reports], { prefix: api!.prefix, queues });
    // The first worker stops, so the late one takes every job.
    await worker!.close();
    expect(late.get(TaskWorkers).concurrencyOf('reports')).toBe(3);

    const reports = late.get(Reports);
    await producer.enqueueMany(Report, [{ label: 'x' }, { label: 'y' }, { label: 'z' }]);
    await eventually(() => reports.running === 3, 10_000, 'three jobs to run at once');
  });

  it('applies an override it was never told of once its subscriber reconnects', async () => {
    const { control, prefix } = await start();
    const workers = worker!.get(TaskWorkers);
    // Internal on purpose: the follower's read in progress, and the subscriber's connection.
    const follower = (workers as unknown as { follower: { refreshing?: Promise<void> } }).follower;
    const redis = new Redis(REDIS_URL);
    try {
      // An announced change first: the subscription is live, and once the read it caused
      // is over nothing reads the hash again by itself (no timer, no message).
      await control.setConcurrency('reports', 2);
      await eventually(() => workers.concurrencyOf('reports') === 2, 10_000, 'the change');
      await eventually(() => follower.refreshing === undefined, 10_000, 'the read to end');
      // Written without an announcement: as if the message was lost while Redis was away.
      await redis.hset(`{${prefix}}:conveyor:control`, 'concurrency:reports', '4');
      expect(workers.concurrencyOf('reports')).toBe(2);
      // Only this connection is cut, from the server side.
      const subscriber = (workers as unknown as { subscriber: Redis }).subscriber;
      await eventually(() => subscriber.status === 'ready', 5_000, 'the subscriber to connect');
      const port = subscriber.stream.localPort;
      await redis.call('CLIENT', 'KILL', 'ADDR', `127.0.0.1:${port}`);
      await eventually(() => workers.concurrencyOf('reports') === 4, 10_000, 'the override');
    } finally {
      redis.disconnect();
    }
  });

  it('pauses a queue for every process: the running job finishes, a new one stays waiting until resume', async () => {
    const { control, producer } = await start();
    const reports = worker!.get(Reports);
    const first = await producer.enqueue(Report, { label: 'running' });
    await eventually(() => reports.started.length === 1, 10_000, 'the first job to start');

    await control.pause('reports');
    await expect(control.isPaused('reports')).resolves.toBe(true);
    const second = await producer.enqueue(Report, { label: 'held back' });
    reports.open('running', 'held back');
    // Finishing a job is where a worker takes its next one: had the pause not held, the
    // second job would be active or done by now.
    await expect(first.result({ timeout: '10s' })).resolves.toBe('running');
    await expect(second.state()).resolves.toBe('waiting');
    expect(reports.started).toEqual(['running']);
    expect((await control.limits()).find((l) => l.queue === 'reports')?.paused).toBe(true);

    await control.resume('reports');
    await expect(control.isPaused('reports')).resolves.toBe(false);
    await expect(second.result({ timeout: '10s' })).resolves.toBe('held back');
  });

  it('refuses an unknown queue and a concurrency out of range, naming them', async () => {
    const { control } = await start();
    const unknown = control.pause('reprots');
    await expect(unknown).rejects.toBeInstanceOf(InvalidTaskOptionsError);
    await expect(unknown).rejects.toThrow(
      /queue 'reprots'.*did you mean 'reports'.*known queues: default, other, reports/,
    );
    for (const bad of [0, 1.5, 10_001, '2' as unknown as number]) {
      await expect(control.setConcurrency('reports', bad)).rejects.toThrow(
        /concurrency must be an integer from 1 to 10000.*queue 'reports'/,
      );
    }
    await expect(control.setConcurrency('nope', 2)).rejects.toThrow(/queue 'nope'/);
    await expect(control.limits()).resolves.toEqual(
      expect.arrayContaining([expect.objectContaining({ queue: 'reports', overrides: {} })]),
    );
  });
});
