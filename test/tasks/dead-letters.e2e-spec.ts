import { Injectable } from '@nestjs/common';
import {
  DeadLetterNotFoundError,
  DeadLetters,
  defineTask,
  InvalidTaskOptionsError,
  Task,
  type TaskEvent,
  TaskFailedError,
  TaskProducer,
  UnknownTaskError,
} from '@conveyor/tasks';
import { Job as BullJob } from 'bullmq';
import { closeRawQueue, rawQueue } from '../support/redis';
import { eventually, startTasksApp, stopAll, type TestApp } from '../support/tasks-app';

const Charge = defineTask<{ order: number; poison?: boolean }, string>('payment.charge', {
  attempts: 3,
  backoff: { type: 'fixed', delay: 10 },
});

@Injectable()
class PaymentTasks {
  /** Flip to true to "deploy the fix". */
  fixed = false;
  readonly charged: number[] = [];

  @Task(Charge)
  charge({ order, poison }: { order: number; poison?: boolean }): string {
    if (poison && !this.fixed) throw new RangeError(`order ${order}: amount out of range`);
    this.charged.push(order);
    return `charged ${order}`;
  }
}

describe('dead letters', () => {
  let app: TestApp | undefined;
  let other: TestApp | undefined;
  const deadLettered: Array<TaskEvent & { error: Error }> = [];

  beforeEach(async () => {
    deadLettered.length = 0;
    app = await startTasksApp([PaymentTasks], {
      queues: { default: { concurrency: 5 } },
      hooks: { onDeadLetter: (event) => void deadLettered.push(event) },
    });
  });
  afterEach(async () => {
    await stopAll(app, other);
    app = other = undefined;
  });

  it('dead-letters a poison job after its last attempt while the other jobs flow', async () => {
    const producer = app!.get(TaskProducer);
    const poison = await producer.enqueue(Charge, { order: 0, poison: true });
    const good = await producer.enqueueMany(
      Charge,
      Array.from({ length: 50 }, (_, i) => ({ order: i + 1 })),
    );
    await Promise.all(good.map((handle) => handle.result({ timeout: '20s' })));
    await expect(poison.result({ timeout: '20s' })).rejects.toMatchObject({ attemptsMade: 3 });

    expect(app!.get(PaymentTasks).charged).toHaveLength(50);
    await expect(poison.state()).resolves.toBe('dead-lettered');
    const deadLetters = app!.get(DeadLetters);
    expect(await deadLetters.count('default')).toBe(1);
    const [letter] = await deadLetters.list('default');
    expect(letter).toMatchObject({
      id: poison.id,
      taskName: 'payment.charge',
      payload: { order: 0, poison: true },
      options: { attempts: 3 },
      error: { name: 'RangeError', message: 'order 0: amount out of range' },
      attemptsMade: 3,
    });
    expect(letter.error.stack).toContain('RangeError: order 0');
    expect(letter.failedAt!.getTime()).toBeGreaterThanOrEqual(letter.enqueuedAt.getTime());
    expect(await deadLetters.show('default', poison.id)).toEqual(letter);
    await eventually(() => deadLettered.length === 1, 5_000, 'the onDeadLetter hook');
    expect(deadLettered[0]).toMatchObject({ jobId: poison.id, taskName: 'payment.charge' });
  });

  it('replays a dead letter with fresh attempts once the cause is fixed', async () => {
    const producer = app!.get(TaskProducer);
    const poison = await producer.enqueue(Charge, { order: 7, poison: true });
    await expect(poison.result({ timeout: '20s' })).rejects.toThrow();

    app!.get(PaymentTasks).fixed = true;
    const replayed = await app!.get(DeadLetters).replay('default', poison.id);
    expect(replayed.id).toBe(poison.id);
    await expect(replayed.result({ timeout: '20s' })).resolves.toBe('charged 7');
    expect(await app!.get(DeadLetters).count('default')).toBe(0);
    await expect(app!.get(DeadLetters).replay('default', poison.id)).rejects.toThrow(
      DeadLetterNotFoundError,
    );
  });

  it('gives fresh attempts to a dead letter retried outside Conveyor (bull-board calls job.retry)', async () => {
    const producer = app!.get(TaskProducer);
    const poison = await producer.enqueue(Charge, { order: 9, poison: true });
    await expect(poison.result({ timeout: '20s' })).rejects.toMatchObject({ attemptsMade: 3 });

    // What bull-board's retry button does: BullMQ's retry, attempts not reset.
    const queue = rawQueue(app!.prefix, 'default');
    try {
      const job = (await BullJob.fromId(queue, poison.id))!;
      await job.retry('failed');
    } finally {
      await closeRawQueue(queue);
    }
    // Still failing: it gets all three attempts again, not "attempt 4/3" and dead at once.
    await eventually(
      async () =>
        (await poison.info())?.state === 'dead-lettered' &&
        (await poison.info())!.attemptsMade === 3,
      20_000,
      'the retried job to spend three fresh attempts',
    );
    const attempts = deadLettered.filter((e) => e.jobId === poison.id).map((e) => e.attempt);
    expect(attempts).toEqual([3, 3]);

    // Fixed, and retried the same way: it runs and succeeds.
    app!.get(PaymentTasks).fixed = true;
    const again = rawQueue(app!.prefix, 'default');
    try {
      await (await BullJob.fromId(again, poison.id))!.retry('failed');
    } finally {
      await closeRawQueue(again);
    }
    await eventually(
      async () => (await poison.state()) === 'completed',
      20_000,
      'the retried job to complete',
    );
  });

  it('replays and purges filtered sets', async () => {
    const producer = app!.get(TaskProducer);
    const handles = await producer.enqueueMany(
      Charge,
      [1, 2, 3, 4].map((order) => ({ order, poison: true })),
    );
    await Promise.all(handles.map((h) => h.result({ timeout: '20s' }).catch(() => undefined)));
    const deadLetters = app!.get(DeadLetters);
    expect(await deadLetters.count()).toBe(4);

    expect(await deadLetters.purgeWhere('default', { messageIncludes: 'order 1:' })).toBe(1);
    app!.get(PaymentTasks).fixed = true;
    const report = await deadLetters.replayWhere('default', { errorName: 'RangeError' });
    expect(report.replayed.sort()).toEqual([handles[1].id, handles[2].id, handles[3].id].sort());
    expect(report.refused).toEqual([]);
    await Promise.all(handles.slice(1).map((h) => h.result({ timeout: '20s' })));
    expect(await deadLetters.count()).toBe(0);
  });

  it('refuses to replay a task this app no longer has, and keeps the entry', async () => {
    const prefix = app!.prefix;
    const poison = await app!.get(TaskProducer).enqueue(Charge, { order: 9, poison: true });
    await expect(poison.result({ timeout: '20s' })).rejects.toThrow();
    await app!.close();

    other = await startTasksApp([], { prefix, queues: { default: {} }, workers: 'none' });
    const deadLetters = other.get(DeadLetters);
    await expect(deadLetters.replay('default', poison.id)).rejects.toThrow(UnknownTaskError);
    await expect(deadLetters.replay('default', poison.id)).rejects.toThrow(
      /Unknown task "payment\.charge"/,
    );
    expect(await deadLetters.count('default')).toBe(1);
  });

  it('pages through a queue of dead letters and rejects an unknown queue', async () => {
    const deadLetters = app!.get(DeadLetters);
    const handles = await app!.get(TaskProducer).enqueueMany(
      Charge,
      Array.from({ length: 7 }, (_, i) => ({ order: i, poison: true })),
    );
    for (const handle of handles) {
      await expect(handle.result({ timeout: '20s' })).rejects.toThrow(TaskFailedError);
    }
    const first = await deadLetters.list('default', { offset: 0, limit: 5 });
    const second = await deadLetters.list('default', { offset: 5, limit: 5 });
    expect(first).toHaveLength(5);
    expect(second).toHaveLength(2);
    // The two pages hold each dead letter once: the seven jobs, and nothing else.
    const paged = [...first, ...second];
    expect(paged.map((l) => l.id).sort()).toEqual(handles.map((h) => h.id).sort());
    // Most recent first, across the page boundary.
    const failedAt = paged.map((l) => l.failedAt!.getTime());
    expect(failedAt).toEqual([...failedAt].sort((a, b) => b - a));
    await expect(deadLetters.list('default', { offset: 7, limit: 5 })).resolves.toEqual([]);

    const unknown = deadLetters.list('nope');
    await expect(unknown).rejects.toThrow(InvalidTaskOptionsError);
    await expect(unknown).rejects.toThrow(/unknown queue "nope"/);
  });
});
