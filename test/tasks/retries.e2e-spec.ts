import { Injectable } from '@nestjs/common';
import { Job } from 'bullmq';
import { Redis } from 'ioredis';
import {
  defineTask,
  Task,
  TaskFailedError,
  type TaskContext,
  TaskProducer,
  UnrecoverableTaskError,
} from '@conveyor/tasks';
import { closeRawQueue, rawQueue, REDIS_URL } from '../support/redis';
import { startTasksApp, stopAll, type TestApp } from '../support/tasks-app';

const Flaky = defineTask<{ failTimes: number }, string>('flaky', {
  attempts: 4,
  backoff: { type: 'exponential', delay: 200 },
});
const AlwaysFails = defineTask<Record<string, never>, never>('always-fails', {
  attempts: 3,
  backoff: { type: 'fixed', delay: 10 },
});
const Refuses = defineTask<Record<string, never>, never>('refuses', { attempts: 5 });
const Picky = defineTask<{ status: number }, never>('picky', {
  attempts: 5,
  backoff: { type: 'fixed', delay: 10 },
  retryIf: (error) => !error.message.includes('HTTP 4'),
});

@Injectable()
class RetryTasks {
  readonly attempts = new Map<string, number[]>();

  private count(ctx: TaskContext): number {
    const list = this.attempts.get(ctx.taskName) ?? [];
    list.push(ctx.attempt);
    this.attempts.set(ctx.taskName, list);
    return ctx.attempt;
  }

  @Task(Flaky)
  flaky(payload: { failTimes: number }, ctx: TaskContext): string {
    if (this.count(ctx) <= payload.failTimes)
      throw new Error(`provider down (attempt ${ctx.attempt})`);
    return `ok after ${ctx.attempt}`;
  }

  @Task(AlwaysFails)
  alwaysFails(_: unknown, ctx: TaskContext): never {
    this.count(ctx);
    throw new TypeError('cannot read the invoice');
  }

  @Task(Refuses)
  refuses(_: unknown, ctx: TaskContext): never {
    this.count(ctx);
    throw new UnrecoverableTaskError('card permanently declined');
  }

  @Task(Picky)
  picky(payload: { status: number }, ctx: TaskContext): never {
    this.count(ctx);
    throw new Error(`HTTP ${payload.status}`);
  }
}

describe('retries', () => {
  let app: TestApp;
  let producer: TaskProducer;
  let tasks: RetryTasks;

  beforeEach(async () => {
    app = await startTasksApp([RetryTasks]);
    producer = app.get(TaskProducer);
    tasks = app.get(RetryTasks);
  });
  afterEach(() => stopAll(app));

  it('retries with exponential backoff until the handler succeeds', async () => {
    const handle = await producer.enqueue(Flaky, { failTimes: 2 });
    await expect(handle.result({ timeout: '10s' })).resolves.toBe('ok after 3');
    expect(tasks.attempts.get('flaky')).toEqual([1, 2, 3]);
  });

  it('spaces retries as the backoff says: each wait twice the one before', async () => {
    const handle = await producer.enqueue(Flaky, { failTimes: 3 });
    await handle.result({ timeout: '10s' });
    // Each retry is a "delayed" event in the queue's event stream, with `delay` the time the
    // retry falls due: the worker's clock when it scheduled the retry, plus the backoff. That
    // clock reading is not in the stream, but it lies between the attempt's "active" event
    // and its "delayed" event (entry ids carry Redis's time, on the same host clock). So the
    // backoff lies in [due - delayedAt, due - activeAt], whatever the load on the machine.
    const events = (await eventsOf(app.prefix, 'default')).filter(
      (event) => event.jobId === handle.id && ['active', 'delayed'].includes(event.event),
    );
    expect(events.map((event) => event.event)).toEqual([
      ...['active', 'delayed', 'active', 'delayed', 'active', 'delayed'],
      'active',
    ]);
    [200, 400, 800].forEach((base, i) => {
      const [active, delayed] = [events[2 * i], events[2 * i + 1]];
      const due = Number(delayed.delay);
      // Flaky gives its own backoff without `jitter`, so jitter is 0: each wait is the base.
      expect(due - delayed.at).toBeLessThanOrEqual(base);
      expect(due - active.at).toBeGreaterThanOrEqual(base);
    });
  });

  it('fails for good after its last attempt, reporting the final error', async () => {
    const handle = await producer.enqueue(AlwaysFails, {});
    const error = await handle.result({ timeout: '10s' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TaskFailedError);
    expect(error).toMatchObject({
      taskName: 'always-fails',
      errorName: 'TypeError',
      message: 'cannot read the invoice',
      attemptsMade: 3,
    });
    expect(tasks.attempts.get('always-fails')).toEqual([1, 2, 3]);
    await expect(handle.state()).resolves.toBe('dead-lettered');
  });

  it('does not retry an UnrecoverableTaskError', async () => {
    const handle = await producer.enqueue(Refuses, {});
    await expect(handle.result({ timeout: '10s' })).rejects.toMatchObject({
      errorName: 'UnrecoverableTaskError',
      message: 'card permanently declined',
    });
    expect(tasks.attempts.get('refuses')).toEqual([1]);
  });

  it('stops retrying when retryIf says the error is permanent', async () => {
    const permanent = await producer.enqueue(Picky, { status: 404 });
    await expect(permanent.result({ timeout: '10s' })).rejects.toMatchObject({
      message: 'HTTP 404',
    });
    expect(tasks.attempts.get('picky')).toEqual([1]);

    tasks.attempts.clear();
    const transient = await producer.enqueue(Picky, { status: 503 });
    await expect(transient.result({ timeout: '10s' })).rejects.toMatchObject({ attemptsMade: 5 });
    expect(tasks.attempts.get('picky')).toEqual([1, 2, 3, 4, 5]);
  });

  it('honours attempts given at enqueue over the task default', async () => {
    const handle = await producer.enqueue(AlwaysFails, {}, { attempts: 1 });
    await expect(handle.result({ timeout: '10s' })).rejects.toMatchObject({ attemptsMade: 1 });
    const queue = rawQueue(app.prefix, 'default');
    try {
      expect((await Job.fromId(queue, handle.id))?.opts.attempts).toBe(1);
    } finally {
      await closeRawQueue(queue);
    }
  });
});

async function eventsOf(
  prefix: string,
  queue: string,
): Promise<Array<Record<string, string> & { at: number }>> {
  const redis = new Redis(REDIS_URL);
  try {
    const entries = await redis.xrange(`{${prefix}}:${queue}:events`, '-', '+');
    return entries.map(([id, fields]) => {
      const event: Record<string, string> & { at: number } = {
        at: Number(id.split('-')[0]),
      } as never;
      for (let i = 0; i < fields.length; i += 2) event[fields[i]] = fields[i + 1];
      return event;
    });
  } finally {
    redis.disconnect();
  }
}
