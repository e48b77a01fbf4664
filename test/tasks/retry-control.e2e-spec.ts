import { Injectable } from '@nestjs/common';
import { Job } from 'bullmq';
import { Redis } from 'ioredis';
import {
  DeadLetters,
  defineTask,
  RetryTaskError,
  Task,
  type TaskContext,
  TaskFailedError,
  type TaskFailureEvent,
  TaskProducer,
  type TasksModuleOptions,
} from '@conveyor/tasks';
import { closeRawQueue, rawQueue, REDIS_URL } from '../support/redis';
import { eventually, startTasksApp, stopAll, type TestApp } from '../support/tasks-app';

const HOUR = 3_600_000;

/**
 * A delay of one hour as BullMQ records it for a job moved to the delayed set: our time of
 * the move less BullMQ's own `Date.now()` a moment later, so a millisecond or so short.
 */
function expectHourDelay(delay: number): void {
  expect(delay).toBeLessThanOrEqual(HOUR);
  expect(delay).toBeGreaterThan(HOUR - 1_000);
}

class RateLimitedError extends Error {
  override readonly name = 'RateLimitedError';
}

const failures: TaskFailureEvent[] = [];
const onFailure = (event: TaskFailureEvent) => void failures.push(event);

// Once 'fail', then fine.
const Charge = defineTask<{ delay: string }, string>('retry.charge', {
  attempts: 3,
  backoff: { type: 'fixed', delay: 10 },
  // RetryTaskError retries whatever retryIf says.
  retryIf: () => false,
  onFailure,
});
const Poll = defineTask<{ delay: string }, string>('retry.poll', { attempts: 2, onFailure });
const Spin = defineTask<Record<string, never>, never>('retry.spin', {
  attempts: 2,
  maxUncountedRetries: 3,
  onFailure,
});
const Sync = defineTask<{ n: number }, number>('retry.sync', { singleton: true, onFailure });
const Fetch = defineTask<Record<string, never>, string>('retry.fetch', {
  attempts: 3,
  backoff: (attempt, error) => (error instanceof RateLimitedError ? '1h' : attempt * 5),
  onFailure,
});
// Its backoff comes from the module defaults below.
const Buggy = defineTask<Record<string, never>, string>('retry.buggy', { attempts: 2, onFailure });
const LimitedByString = defineTask<{ n: number }, number>('retry.limited-string', {
  rateLimit: '1/h',
});
const LimitedByObject = defineTask<{ n: number }, number>('retry.limited-object', {
  rateLimit: { max: 1, per: '1h' },
});
const Mail = defineTask<{ n: number }, number>('retry.mail', { queue: 'mail' });

@Injectable()
class RetryControlTasks {
  readonly attempts = new Map<string, number[]>();

  private seen(ctx: TaskContext): number {
    const list = this.attempts.get(ctx.taskName) ?? [];
    list.push(ctx.attempt);
    this.attempts.set(ctx.taskName, list);
    return list.length;
  }

  @Task(Charge)
  charge({ delay }: { delay: string }, ctx: TaskContext): string {
    if (this.seen(ctx) === 1) {
      throw new RetryTaskError({ delay, cause: new Error('HTTP 429 Retry-After') });
    }
    return `charged on attempt ${ctx.attempt}`;
  }

  @Task(Poll)
  poll({ delay }: { delay: string }, ctx: TaskContext): string {
    if (this.seen(ctx) === 1) ctx.retry({ delay, countAttempt: false });
    return `ready on attempt ${ctx.attempt}`;
  }

  @Task(Spin)
  spin(_: unknown, ctx: TaskContext): never {
    this.seen(ctx);
    return ctx.retry({ delay: 0, countAttempt: false, message: 'not ready yet' });
  }

  @Task(Sync)
  sync({ n }: { n: number }, ctx: TaskContext): number {
    if (n === 1 && this.seen(ctx) === 1) ctx.retry({ delay: '1h', countAttempt: false });
    return n;
  }

  @Task(Fetch)
  fetch(_: unknown, ctx: TaskContext): string {
    const run = this.seen(ctx);
    if (run === 1) throw new TypeError('socket hang up');
    if (run === 2) throw new RateLimitedError('429');
    return 'fetched';
  }

  @Task(Buggy)
  buggy(_: unknown, ctx: TaskContext): string {
    if (this.seen(ctx) === 1) throw new Error('bad');
    return 'done';
  }

  @Task(LimitedByString)
  limitedByString({ n }: { n: number }): number {
    return n;
  }

  @Task(LimitedByObject)
  limitedByObject({ n }: { n: number }): number {
    return n;
  }

  @Task(Mail)
  mail({ n }: { n: number }): number {
    return n;
  }
}

const options: Partial<TasksModuleOptions> = {
  // A policy bug: 'soon' is no duration, so Buggy's retry falls back to the built-in policy.
  defaults: { backoff: (_attempt, error) => (error.message === 'bad' ? 'soon' : 1) },
  queues: { mail: { rateLimit: '1/h' } },
};

describe('retry control', () => {
  let app: TestApp;
  let producer: TaskProducer;
  let tasks: RetryControlTasks;

  beforeEach(async () => {
    failures.length = 0;
    app = await startTasksApp([RetryControlTasks], options);
    producer = app.get(TaskProducer);
    tasks = app.get(RetryControlTasks);
  });
  afterEach(() => stopAll(app));

  /** The job as Redis holds it, once it has reached `state`. */
  async function jobIn(queueName: string, id: string, state: string): Promise<Job> {
    const queue = rawQueue(app.prefix, queueName);
    try {
      await eventually(async () => (await queue.getJobState(id)) === state, 10_000, state);
      return (await Job.fromId(queue, id))!;
    } finally {
      await closeRawQueue(queue);
    }
  }

  async function promote(queueName: string, id: string): Promise<void> {
    const queue = rawQueue(app.prefix, queueName);
    try {
      await (await Job.fromId(queue, id))!.promote();
    } finally {
      await closeRawQueue(queue);
    }
  }

  it('retries a RetryTaskError after its own delay, not the backoff, spending an attempt even when retryIf says no', async () => {
    const handle = await producer.enqueue(Charge, { delay: '1h' });

    const job = await jobIn('default', handle.id, 'delayed');
    expect(job.attemptsMade).toBe(1);
    expect(job.delay).toBe(HOUR);
    expect(failures).toEqual([
      expect.objectContaining({ attempt: 1, willRetry: true, retryInMs: HOUR }),
    ]);
    expect(failures[0].error).toBeInstanceOf(RetryTaskError);
    expect((failures[0].error as Error).message).toBe('retry requested: HTTP 429 Retry-After');

    await promote('default', handle.id);
    await expect(handle.result({ timeout: '10s' })).resolves.toBe('charged on attempt 2');
  });

  it('spends no attempt on ctx.retry({ countAttempt: false })', async () => {
    const handle = await producer.enqueue(Poll, { delay: '1h' });

    const job = await jobIn('default', handle.id, 'delayed');
    expect(job.attemptsMade).toBe(0);
    expectHourDelay(job.delay);
    expect(failures).toEqual([
      expect.objectContaining({ attempt: 1, willRetry: true, retryInMs: HOUR }),
    ]);

    await promote('default', handle.id);
    await expect(handle.result({ timeout: '10s' })).resolves.toBe('ready on attempt 1');
    expect(tasks.attempts.get('retry.poll')).toEqual([1, 1]);
  });

  it('counts uncounted retries past maxUncountedRetries, so a handler that always asks ends', async () => {
    const handle = await producer.enqueue(Spin, {});

    const error = await handle.result({ timeout: '10s' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TaskFailedError);
    expect(error).toMatchObject({ errorName: 'RetryTaskError', attemptsMade: 2 });
    // Three free runs of attempt 1, the fourth spends it, then attempt 2 is the last.
    expect(tasks.attempts.get('retry.spin')).toEqual([1, 1, 1, 1, 2]);
    expect(failures.map((f) => f.willRetry)).toEqual([true, true, true, true, false]);
    await expect(handle.state()).resolves.toBe('dead-lettered');

    // A replay starts afresh: its attempts and its uncounted retries.
    const replayed = await app.get(DeadLetters).replay('default', handle.id);
    await expect(replayed.result({ timeout: '10s' })).rejects.toThrow(TaskFailedError);
    expect(tasks.attempts.get('retry.spin')).toEqual([1, 1, 1, 1, 2, 1, 1, 1, 1, 2]);
  });

  it("gives a singleton's slot back when its run asks for an uncounted retry", async () => {
    const first = await producer.enqueue(Sync, { n: 1 });
    await jobIn('default', first.id, 'delayed');

    // Were the slot still held, this job would wait parked for the lease to expire.
    const second = await producer.enqueue(Sync, { n: 2 });
    await expect(second.result({ timeout: '10s' })).resolves.toBe(2);
    await expect(first.state()).resolves.toBe('delayed');
  });

  it('asks a backoff function per error type', async () => {
    const handle = await producer.enqueue(Fetch, {});

    await eventually(() => failures.length === 2);
    const job = await jobIn('default', handle.id, 'delayed');
    expect(failures.map((f) => [f.error.name, f.retryInMs])).toEqual([
      ['TypeError', 5],
      ['RateLimitedError', HOUR],
    ]);
    expect(job.attemptsMade).toBe(2);
    expect(job.delay).toBe(HOUR);
  });

  it('falls back to the backoff policy when a backoff function gives a bad delay', async () => {
    const handle = await producer.enqueue(Buggy, {});
    await expect(handle.result({ timeout: '10s' })).resolves.toBe('done');
    // The built-in policy: exponential from 1 s, less up to 20 % jitter.
    expect(failures).toHaveLength(1);
    expect(failures[0].retryInMs).toBeGreaterThanOrEqual(800);
    expect(failures[0].retryInMs).toBeLessThanOrEqual(1_000);
  });

  it("limits a task's starts with '1/h' as with { max: 1, per: '1h' }", async () => {
    const states = async (ref: typeof LimitedByString) => {
      const first = await producer.enqueue(ref, { n: 1 });
      const second = await producer.enqueue(ref, { n: 2 });
      await expect(first.result({ timeout: '10s' })).resolves.toBe(1);
      // The second start falls in the same hour: it waits parked, spending no attempt.
      const job = await jobIn('default', second.id, 'delayed');
      return { state: await second.state(), attemptsMade: job.attemptsMade };
    };
    const byString = await states(LimitedByString);
    expect(byString).toEqual({ state: 'delayed', attemptsMade: 0 });
    expect(await states(LimitedByObject)).toEqual(byString);
  });

  it("limits a queue's starts with '1/h': BullMQ's limiter holds it for the hour", async () => {
    const first = await producer.enqueue(Mail, { n: 1 });
    const second = await producer.enqueue(Mail, { n: 2 });
    await expect(first.result({ timeout: '10s' })).resolves.toBe(1);
    const redis = new Redis(REDIS_URL);
    try {
      const limiter = `{${app.prefix}}:mail:limiter`;
      const ttl = await eventually(async () => redis.pttl(limiter).then((t) => (t > 0 ? t : 0)));
      expect(ttl).toBeGreaterThan(HOUR - 60_000);
      expect(ttl).toBeLessThanOrEqual(HOUR);
    } finally {
      redis.disconnect();
    }
    await expect(second.state()).resolves.toBe('waiting');
  });
});
