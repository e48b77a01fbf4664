import { Injectable } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import type { Job } from 'bullmq';
import { Redis } from 'ioredis';
import {
  defineTask,
  InvalidTaskOptionsError,
  Task,
  type TaskContext,
  TaskInstrumentation,
  TaskLockLostError,
  TaskProducer,
  TasksModule,
} from '@conveyor/tasks';
import { FreezableProxy } from '../support/freezable-proxy';
import { closeRawQueue, deletePrefix, REDIS_URL, rawQueue, uniquePrefix } from '../support/redis';
import { eventually, startTasksApp, stopAll, type TestApp } from '../support/tasks-app';

/** Bounds a wait inside a handler: only a hang, never the behaviour under test. */
const HOLD_BOUND_MS = 20_000;

/** A promise the test settles: a handler blocks on it as long as the test wants. */
class Gate {
  private openGate!: (value: string) => void;
  readonly opened = new Promise<string>((resolve) => (this.openGate = resolve));
  open(value = ''): void {
    this.openGate(value);
  }
}

/** What the handlers did, in order, across every app of a test (one event loop). */
class Journal {
  readonly events: string[] = [];
  readonly reasons: unknown[] = [];
  readonly gate = new Gate();
  /** Set once by a test whose first run must hold until a condition holds. */
  holdUntil?: () => Promise<boolean>;
  held = false;
  heldMet = false;

  count(prefix: string): number {
    return this.events.filter((e) => e.startsWith(prefix)).length;
  }

  /** Runs `holdUntil` for the first run that asks, up to `HOLD_BOUND_MS`. */
  async holdFirst(): Promise<void> {
    if (this.held || !this.holdUntil) return;
    this.held = true;
    const deadline = Date.now() + HOLD_BOUND_MS;
    while (Date.now() < deadline) {
      if (await this.holdUntil()) {
        this.heldMet = true;
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }
}

const SingletonOnce = defineTask<{ n: number }, string>('exclusion.singleton-once', {
  queue: 'dup',
  singleton: true,
});
const IdempotentOnce = defineTask<{ n: number }, string>('exclusion.idempotent-once', {
  queue: 'dup',
  idempotent: true,
});
const Stubborn = defineTask<{ n: number }, string>('exclusion.stubborn', {
  queue: 'hard',
  singleton: true,
  hardTimeout: 200,
});
const Guarded = defineTask<Record<string, never>, string>('exclusion.guarded', {
  queue: 'lease',
  singleton: true,
});
const Serial = defineTask<{ n: number }, number>('exclusion.serial', {
  queue: 'backlog',
  maxConcurrent: 1,
});
const Metered = defineTask<{ n: number }, number>('exclusion.metered', {
  queue: 'backlog',
  rateLimit: { max: 100, per: '2s' },
});

@Injectable()
class ExclusiveTasks {
  constructor(private readonly journal: Journal) {}

  @Task(SingletonOnce)
  singletonOnce(_: { n: number }, ctx: TaskContext): Promise<string> {
    return this.blockOnce(ctx);
  }

  @Task(IdempotentOnce)
  idempotentOnce(_: { n: number }, ctx: TaskContext): Promise<string> {
    return this.blockOnce(ctx);
  }

  /** Ignores its signal: runs until the test opens the gate. */
  private async blockOnce(ctx: TaskContext): Promise<string> {
    this.journal.events.push(`run ${ctx.jobId}`);
    return this.journal.gate.opened;
  }

  @Task(Stubborn)
  async stubborn({ n }: { n: number }): Promise<string> {
    this.journal.events.push(`start ${n}`);
    // The first run ignores its signal and goes on well past the hard limit.
    if (n === 1) await this.journal.gate.opened;
    this.journal.events.push(`end ${n}`);
    return `done ${n}`;
  }

  @Task(Guarded)
  async guarded(_: unknown, ctx: TaskContext): Promise<string> {
    this.journal.events.push('start');
    await new Promise<void>((resolve) => {
      ctx.signal.addEventListener('abort', () => resolve(), { once: true });
      setTimeout(resolve, HOLD_BOUND_MS).unref();
    });
    this.journal.reasons.push(ctx.signal.reason);
    return 'stopped';
  }

  @Task(Serial)
  async serial({ n }: { n: number }): Promise<number> {
    await this.journal.holdFirst();
    return n;
  }

  @Task(Metered)
  async metered({ n }: { n: number }): Promise<number> {
    await this.journal.holdFirst();
    return n;
  }
}

/** Every queue the handlers route to, with `concurrency` 1 unless `set` says otherwise. */
function queues(set: Record<string, { concurrency: number }> = {}) {
  return { dup: {}, hard: {}, lease: {}, backlog: {}, ...set };
}

/**
 * What BullMQ's stalled-job check does to a job whose lock expired (moveStalledJobsToWait):
 * out of the active list, its lock gone, back to the fetch end of the wait list, workers
 * told. The worker that runs it is left alone, as when it stalled on a busy event loop.
 */
async function stall(redis: Redis, prefix: string, queue: string, jobId: string): Promise<void> {
  const q = `{${prefix}}:${queue}:`;
  const [[, removed]] = (await redis
    .multi()
    .lrem(`${q}active`, 1, jobId)
    .del(`${q}${jobId}:lock`)
    .hincrby(`${q}${jobId}`, 'stc', 1)
    .rpush(`${q}wait`, jobId)
    .zadd(`${q}marker`, 0, '0')
    .exec())! as [[null, number]];
  expect(removed).toBe(1);
}

describe('exclusion: runs that must never overlap', () => {
  let apps: TestApp[] = [];
  let journal: Journal;
  let redis: Redis;
  const providers = () => [{ provide: Journal, useValue: journal }, ExclusiveTasks];

  beforeEach(() => {
    journal = new Journal();
    redis = new Redis(REDIS_URL);
  });
  afterEach(async () => {
    journal.gate.open('released by cleanup');
    await stopAll(...apps);
    apps = [];
    redis.disconnect();
  });

  describe.each([
    ['a singleton task', SingletonOnce],
    ['an idempotent task', IdempotentOnce],
  ])('the same job delivered twice while its first run still goes, for %s', (_, task) => {
    it('runs the handler once; the second delivery completes with the first run result', async () => {
      const prefix = uniquePrefix();
      const first = await startTasksApp(providers(), { prefix, queues: queues() });
      apps.push(first);
      const handle = await first.get(TaskProducer).enqueue(task, { n: 1 });
      await eventually(() => journal.count('run') === 1, 10_000, 'the first run to start');

      // The first run's lock is lost while its handler goes on; a second worker gets the job.
      await stall(redis, prefix, 'dup', handle.id);
      apps.push(await startTasksApp(providers(), { prefix, queues: queues() }));
      const bull = rawQueue(prefix, 'dup');
      try {
        await eventually(
          async () => journal.count('run') > 1 || (await bull.getJobState(handle.id)) === 'delayed',
          10_000,
          'the second delivery to run or to be parked',
        );
        journal.gate.open('result of the first run');
        await expect(handle.result({ timeout: '20s' })).resolves.toBe('result of the first run');
        expect(journal.events).toEqual([`run ${handle.id}`]);
        const job = (await bull.getJob(handle.id)) as Job;
        expect(await job.getState()).toBe('completed');
        expect(job.returnvalue).toBe('result of the first run');
        // Fetched by the first worker, by the second (parked), and once more when woken.
        expect(job.attemptsStarted).toBeGreaterThanOrEqual(2);
      } finally {
        await closeRawQueue(bull);
      }
    });
  });

  // The second delivery's wake time is the first run's lease expiry, which renewals move on:
  // woken at the old time, it was fetched again every lease period (8 fetches in 6 s at 1s).
  it('leaves a second delivery parked while the first run renews its lease', async () => {
    const prefix = uniquePrefix();
    const options = { prefix, leaseDuration: '1s' as const, queues: queues() };
    const first = await startTasksApp(providers(), options);
    apps.push(first);
    const handle = await first.get(TaskProducer).enqueue(SingletonOnce, { n: 1 });
    await eventually(() => journal.count('run') === 1, 10_000, 'the first run to start');
    await stall(redis, prefix, 'dup', handle.id);
    apps.push(await startTasksApp(providers(), options));
    const bull = rawQueue(prefix, 'dup');
    try {
      await eventually(
        async () => (await bull.getJobState(handle.id)) === 'delayed',
        10_000,
        'the second delivery to be parked',
      );
      // Held until the first run has renewed its lease three lease periods past the expiry
      // it had when the second delivery parked (on Redis's clock).
      const leaseKey = `{${prefix}}:dup:cv:lease:t:${SingletonOnce.name}`;
      const [member, parkedExpiry] = await redis.zrange(leaseKey, 0, 0, 'WITHSCORES');
      await eventually(
        async () => Number(await redis.zscore(leaseKey, member)) >= Number(parkedExpiry) + 3_000,
        15_000,
        'three lease renewals',
      );
      journal.gate.open('result of the first run');
      await expect(handle.result({ timeout: '20s' })).resolves.toBe('result of the first run');
      // Fetched by the first worker, by the second (parked), and once more when released.
      const job = (await bull.getJob(handle.id)) as Job;
      expect(job.attemptsStarted).toBeLessThanOrEqual(3);
    } finally {
      await closeRawQueue(bull);
    }
  });

  it('starts no other run of a singleton while a handler past its hard limit still runs', async () => {
    const app = await startTasksApp(providers(), { queues: queues({ hard: { concurrency: 2 } }) });
    apps.push(app);
    const producer = app.get(TaskProducer);
    const stubborn = await producer.enqueue(Stubborn, { n: 1 });
    await expect(stubborn.result({ timeout: '10s' })).rejects.toMatchObject({
      errorName: 'TaskTimeoutError',
      message: expect.stringContaining('hard time limit'),
    });
    expect(journal.events).toEqual(['start 1']);

    // The run has failed, its handler has not stopped: the next run must wait for it.
    const next = await producer.enqueue(Stubborn, { n: 2 });
    const bull = rawQueue(app.prefix, 'hard');
    try {
      await eventually(
        async () => journal.count('start 2') > 0 || (await bull.getJobState(next.id)) === 'delayed',
        10_000,
        'the next run to start or to be parked',
      );
    } finally {
      await closeRawQueue(bull);
    }
    journal.gate.open();
    await expect(next.result({ timeout: '20s' })).resolves.toBe('done 2');
    expect(journal.events).toEqual(['start 1', 'end 1', 'start 2', 'end 2']);
  });

  it('aborts the signal with TaskLockLostError and tells observers when a run lease is lost', async () => {
    const app = await startTasksApp(providers(), {
      leaseDuration: '1s',
      queues: queues(),
    });
    apps.push(app);
    const lost: Array<[string, string]> = [];
    app.get(TaskInstrumentation).observe({ leaseLost: (task, queue) => lost.push([task, queue]) });
    const handle = await app.get(TaskProducer).enqueue(Guarded, {});
    await eventually(() => journal.count('start') === 1, 10_000, 'the handler to start');

    const leaseKey = `{${app.prefix}}:lease:cv:lease:t:${Guarded.name}`;
    expect(await redis.zcard(leaseKey)).toBe(1);
    expect(await redis.del(leaseKey)).toBe(1);

    await expect(handle.result({ timeout: '10s' })).resolves.toBe('stopped');
    expect(journal.reasons).toHaveLength(1);
    expect(journal.reasons[0]).toBeInstanceOf(TaskLockLostError);
    expect(journal.reasons[0]).toMatchObject({ jobId: handle.id, queue: 'lease' });
    expect(lost).toEqual([[Guarded.name, 'lease']]);
  });

  // A renewal call to a Redis that stopped answering never settles on the worker connection
  // (maxRetriesPerRequest: null): the run must learn from its own clock that its lease ran out.
  it('tells a run cut off from Redis for a whole lease period that its lease is lost', async () => {
    const target = new URL(REDIS_URL);
    const proxy = await FreezableProxy.start({
      host: target.hostname,
      port: Number(target.port || 6379),
    });
    const app = await startTasksApp(providers(), {
      connection: proxy.url,
      leaseDuration: '1s',
      queues: queues(),
    });
    apps.push(app);
    try {
      const lost: string[] = [];
      app.get(TaskInstrumentation).observe({ leaseLost: (task) => lost.push(task) });
      await app.get(TaskProducer).enqueue(Guarded, {});
      await eventually(() => journal.count('start') === 1, 10_000, 'the handler to start');

      // Its connections stay up, nothing answers: Redis lets the lease go 1 s after its last
      // renewal, and the run must learn it without Redis.
      proxy.freeze();
      await eventually(() => journal.reasons.length > 0, 8_000, 'the signal to abort');
      expect(journal.reasons[0]).toBeInstanceOf(TaskLockLostError);
      expect(lost).toEqual([Guarded.name]);
    } finally {
      proxy.thaw();
      await stopAll(app);
      await proxy.close();
    }
  });

  describe.each([
    ['maxConcurrent: 1', Serial, 299],
    ['a rate limit of 100 per 2 s', Metered, 200],
  ])('a backlog of 300 jobs behind %s', (_, task, parked) => {
    it('waits parked in the delayed set and fetches each job at most twice', async () => {
      const prefix = uniquePrefix();
      const options = { prefix, queues: queues({ backlog: { concurrency: 10 } }) };
      apps.push(await startTasksApp(providers(), options));
      apps.push(await startTasksApp(providers(), options));
      const bull = rawQueue(prefix, 'backlog');
      try {
        // The first run holds its slot (or its window) until the jobs over the limit wait
        // parked, all of them at once.
        journal.holdUntil = async () => (await bull.getJobCountByTypes('delayed')) === parked;
        const handles = await apps[0].get(TaskProducer).enqueueMany(
          task as typeof Serial,
          Array.from({ length: 300 }, (_, n) => ({ n })),
        );
        const results = await Promise.all(handles.map((h) => h.result({ timeout: '60s' })));
        expect(results).toEqual(Array.from({ length: 300 }, (_, n) => n));
        expect(journal.heldMet).toBe(true);

        const jobs = await bull.getJobs(['completed'], 0, -1);
        expect(jobs).toHaveLength(300);
        const fetches = jobs.map((job) => job.attemptsStarted);
        // Parked once at most, then woken to a place of its own: never fetched again and again.
        expect(Math.max(...fetches)).toBeLessThanOrEqual(2);
      } finally {
        await closeRawQueue(bull);
      }
    }, 90_000);
  });
});

describe('exclusion options that cannot work', () => {
  const KeyOnly = defineTask<{ tenant: string }, void>('exclusion.key-only', {
    concurrencyKey: ({ tenant }) => tenant,
  });
  const Single = defineTask<Record<string, never>, void>('exclusion.single', { singleton: true });

  @Injectable()
  class KeyOnlyTasks {
    @Task(KeyOnly)
    run(): void {}
  }

  @Injectable()
  class SingleButConcurrentTasks {
    @Task(Single, { maxConcurrent: 2 })
    run(): void {}
  }

  /** Boots an app with `provider` and returns what its startup threw. */
  async function startupError(provider: new () => unknown): Promise<unknown> {
    const prefix = uniquePrefix();
    const moduleRef = await Test.createTestingModule({
      imports: [TasksModule.forRoot({ connection: REDIS_URL, prefix })],
      providers: [provider],
    }).compile();
    moduleRef.useLogger(false);
    try {
      await moduleRef.init();
      return undefined;
    } catch (error) {
      return error;
    } finally {
      await moduleRef.close();
      await deletePrefix(prefix);
    }
  }

  it('fails startup on a concurrencyKey with neither maxConcurrent nor rateLimit', async () => {
    const error = await startupError(KeyOnlyTasks);
    expect(error).toBeInstanceOf(InvalidTaskOptionsError);
    expect((error as Error).message).toMatch(/exclusion\.key-only/);
    expect((error as Error).message).toMatch(/concurrencyKey/);
  });

  it('fails startup on singleton in defineTask with maxConcurrent in @Task', async () => {
    const error = await startupError(SingleButConcurrentTasks);
    expect(error).toBeInstanceOf(InvalidTaskOptionsError);
    expect((error as Error).message).toMatch(/exclusion\.single/);
    expect((error as Error).message).toMatch(/singleton/);
    expect((error as Error).message).toMatch(/maxConcurrent/);
  });
});
