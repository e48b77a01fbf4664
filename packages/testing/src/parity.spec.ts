import { type DynamicModule, Injectable } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import {
  defineTask,
  step,
  RetryTaskError,
  Task,
  type TaskContext,
  type TaskHandle,
  TaskProducer,
  TasksModule,
  type TasksModuleOptions,
  UnrecoverableTaskError,
  type WorkflowHandle,
} from '@conveyor/tasks';
import { ConveyorTestingModule } from './conveyor-testing.module';
import { TestTasks } from './test-tasks';
import { removePrefix, testPrefix, waitForState } from './redis/redis-helpers';

// The promise of inline mode: a job ends the same way as on a real worker. Each scenario runs
// twice, on a worker over the real Redis and in the testing module, and the outcomes (state,
// attempts, result or final error) must be equal.

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

const Add = defineTask<{ a: number; b: number }, number>('parity.add');
const Nothing = defineTask<Record<string, never>, undefined>('parity.nothing');
const Flaky = defineTask<{ failures: number }, string>('parity.flaky', {
  attempts: 3,
  backoff: { type: 'fixed', delay: '10ms' },
});
const Refuse = defineTask<{ why: string }, never>('parity.refuse', { attempts: 4 });
const Picky = defineTask<{ code: number }, never>('parity.picky', {
  attempts: 3,
  backoff: { type: 'fixed', delay: '10ms' },
  retryIf: (error) => !error.message.includes('400'),
});
const Charge = defineTask<{ orderId: string }, string>('parity.charge', { idempotent: true });
const Double = defineTask<number, number>('parity.double');
const Notify = defineTask<{ to: string }, string>('parity.notify', { resultTtl: 0 });
const Boom = defineTask<number, never>('parity.boom');
// Asks for `asks` retries (counted or not) with a delay, then succeeds.
const Pushy = defineTask<{ asks: number; countAttempt: boolean }, string>('parity.pushy', {
  attempts: 3,
  maxUncountedRetries: 2,
  retryIf: () => false,
});
const ByError = defineTask<{ failures: number }, string>('parity.by-error', {
  attempts: 3,
  backoff: (attempt, error) => (error instanceof RangeError ? '5ms' : attempt),
});

@Injectable()
class ParityHandlers {
  runs = 0;
  /** Runs of each job, attempts as the handler saw them. */
  readonly seen = new Map<string, number[]>();

  private see(ctx: TaskContext): number {
    const list = this.seen.get(ctx.jobId) ?? [];
    list.push(ctx.attempt);
    this.seen.set(ctx.jobId, list);
    return list.length;
  }

  @Task(Pushy)
  pushy({ asks, countAttempt }: { asks: number; countAttempt: boolean }, ctx: TaskContext) {
    this.runs++;
    if (this.see(ctx) <= asks) {
      throw new RetryTaskError({ delay: 5, countAttempt, cause: new Error('HTTP 429') });
    }
    return `done on attempt ${ctx.attempt} after ${this.seen.get(ctx.jobId)!.length} runs`;
  }

  @Task(ByError)
  byError({ failures }: { failures: number }, ctx: TaskContext): string {
    this.runs++;
    if (this.see(ctx) <= failures) throw new RangeError(`failure ${ctx.attempt}`);
    return `ok on ${ctx.attempt}`;
  }

  @Task(Add)
  add({ a, b }: { a: number; b: number }): number {
    this.runs++;
    return a + b;
  }

  @Task(Nothing)
  nothing(): undefined {
    this.runs++;
    return undefined;
  }

  @Task(Flaky)
  flaky({ failures }: { failures: number }, ctx: TaskContext): string {
    this.runs++;
    if (ctx.attempt <= failures) throw new TypeError(`failure ${ctx.attempt}`);
    return `ok on ${ctx.attempt} of ${ctx.maxAttempts}`;
  }

  @Task(Refuse)
  refuse({ why }: { why: string }): never {
    this.runs++;
    throw new UnrecoverableTaskError(why);
  }

  @Task(Picky)
  picky({ code }: { code: number }): never {
    this.runs++;
    throw new Error(`HTTP ${code}`);
  }

  @Task(Charge)
  charge({ orderId }: { orderId: string }): string {
    this.runs++;
    return `charged ${orderId}`;
  }

  @Task(Notify)
  notify({ to }: { to: string }): string {
    this.runs++;
    return `sent to ${to}`;
  }

  @Task(Double)
  double(n: number): number {
    this.runs++;
    return n * 2;
  }

  @Task(Boom)
  boom(n: number): never {
    this.runs++;
    throw new RangeError(`boom ${n}`);
  }
}

/** How a job ended, in the terms both sides report. */
async function outcome(handle: TaskHandle<unknown> | WorkflowHandle<unknown>) {
  try {
    return { ok: true, result: await handle.result({ timeout: '10s' }) };
  } catch (error) {
    const { name, errorName, reason, attemptsMade, taskName } = error as Record<string, unknown>;
    // Job ids count differently (each side's queue saw other jobs before); the rest must match.
    const message =
      name === 'TaskResultError'
        ? (error as Error).message.replace(/^job \S+ /, 'job <id> ')
        : undefined;
    return { ok: false, name, errorName, reason, attemptsMade, taskName, message };
  }
}

type Scenario = (producer: TaskProducer) => Promise<unknown>;

const scenarios: Record<string, Scenario> = {
  'a value': async (p) => outcome(await p.enqueue(Add, { a: 2, b: 40 })),
  'no value': async (p) => outcome(await p.enqueue(Nothing, {})),
  'retried, then done': async (p) => {
    const handle = await p.enqueue(Flaky, { failures: 2 });
    return { ...(await outcome(handle)), state: await handle.state() };
  },
  'attempts spent': async (p) => {
    const handle = await p.enqueue(Flaky, { failures: 9 });
    return { ...(await outcome(handle)), state: await handle.state() };
  },
  'attempts from enqueue options': async (p) =>
    outcome(await p.enqueue(Flaky, { failures: 9 }, { attempts: 2 })),
  unrecoverable: async (p) => outcome(await p.enqueue(Refuse, { why: 'card declined' })),
  'retryIf refuses': async (p) => outcome(await p.enqueue(Picky, { code: 400 })),
  'retryIf accepts': async (p) => outcome(await p.enqueue(Picky, { code: 503 })),
  'idempotent twice': async (p) => {
    const first = await p.enqueue(Charge, { orderId: 'o-1' });
    await first.result({ timeout: '10s' });
    const second = await p.enqueue(Charge, { orderId: 'o-1' });
    return { same: first.id === second.id, ...(await outcome(second)) };
  },
  'a chain': async (p) => outcome(await p.chain([step(Add, { a: 1, b: 2 }), step(Double)])),
  'a failing chain': async (p) => {
    const handle = await p.chain([step(Double, 1), step(Boom), step(Double)]);
    return {
      ...(await outcome(handle)),
      states: (await handle.steps()).map((s) => s.state),
    };
  },
  'RetryTaskError retries whatever retryIf says': async (p) =>
    outcome(await p.enqueue(Pushy, { asks: 2, countAttempt: true })),
  'RetryTaskError past the last attempt': async (p) =>
    outcome(await p.enqueue(Pushy, { asks: 9, countAttempt: true })),
  'uncounted retries spend no attempt': async (p) =>
    outcome(await p.enqueue(Pushy, { asks: 2, countAttempt: false })),
  'uncounted retries past maxUncountedRetries count': async (p) =>
    outcome(await p.enqueue(Pushy, { asks: 9, countAttempt: false })),
  'a backoff function': async (p) => outcome(await p.enqueue(ByError, { failures: 2 })),
  'a group': async (p) => outcome(await p.group([step(Double, 1), step(Double, 2)])),
  'its record': async (p) => {
    const handle = await p.enqueue(Flaky, { failures: 1 });
    await handle.result({ timeout: '10s' });
    const { state, attemptsMade, maxAttempts, result, lastError, worker } = (await handle.info())!;
    // The stack is where each ran; what failed is the same.
    const { name, message } = lastError!;
    return {
      state,
      attemptsMade,
      maxAttempts,
      result,
      lastError: { name, message },
      pid: worker?.pid,
    };
  },
  forgotten: async (p) => {
    const handle = await p.enqueue(Add, { a: 1, b: 1 });
    await handle.result({ timeout: '10s' });
    return {
      first: await handle.forget(),
      state: await handle.state(),
      info: await handle.info(),
      again: await handle.forget(),
      result: await outcome(handle),
    };
  },
  'fire-and-forget': async (p) => {
    const handle = await p.enqueue(Notify, { to: 'ops' });
    const result = await outcome(handle);
    return { result, state: await waitForState(handle, 'forgotten') };
  },
};

/** A worker app on Redis and a testing module, with the same handlers and options. */
interface Pair {
  prefix: string;
  real: TestingModule;
  inline: TestingModule;
}

async function startPair(label: string, options: Partial<TasksModuleOptions> = {}): Promise<Pair> {
  const prefix = testPrefix(label);
  const start = async (module: DynamicModule) => {
    const moduleRef = await Test.createTestingModule({
      imports: [module],
      providers: [ParityHandlers],
    }).compile();
    moduleRef.useLogger(false);
    await moduleRef.init();
    return moduleRef;
  };
  return {
    prefix,
    real: await start(TasksModule.forRoot({ connection: REDIS_URL, prefix, ...options })),
    inline: await start(ConveyorTestingModule.forRoot(options)),
  };
}

async function stopPair(pair: Pair | undefined): Promise<void> {
  if (!pair) return;
  await pair.real.close();
  await pair.inline.close();
  await removePrefix(REDIS_URL, pair.prefix);
}

describe('inline mode ends jobs as a worker on Redis does', () => {
  let pair: Pair | undefined;

  // Each scenario on fresh apps and its own prefix: one that goes astray cannot skew the next.
  beforeEach(async () => {
    pair = await startPair('parity');
  });
  afterEach(() => stopPair(pair));

  it.each(Object.keys(scenarios))('%s', async (name) => {
    const { real, inline } = pair!;
    const onRedis = await scenarios[name](real.get(TaskProducer));
    const runsOnRedis = real.get(ParityHandlers).runs;
    const inProcess = await scenarios[name](inline.get(TaskProducer));

    expect(inProcess).toEqual(onRedis);
    expect(inline.get(ParityHandlers).runs).toBe(runsOnRedis);
  });
});

describe('inline mode records RetryTaskError retries as a worker makes them', () => {
  let inline: TestingModule;
  const failures: Array<{ willRetry: boolean; retryInMs?: number; attempt: number }> = [];

  beforeEach(async () => {
    failures.length = 0;
    inline = await Test.createTestingModule({
      imports: [
        ConveyorTestingModule.forRoot({
          hooks: {
            onFailure: ({ willRetry, retryInMs, attempt }) =>
              void failures.push({ willRetry, retryInMs, attempt }),
          },
        }),
      ],
      providers: [ParityHandlers],
    }).compile();
    inline.useLogger(false);
    await inline.init();
  });
  afterEach(() => inline.close());

  it("records a RetryTaskError's delay as retryInMs, and an uncounted retry as spending no attempt", async () => {
    const tasks = inline.get(TestTasks);
    const handle = await inline.get(TaskProducer).enqueue(Pushy, { asks: 1, countAttempt: false });
    await expect(handle.result()).resolves.toBe('done on attempt 1 after 2 runs');
    const job = tasks.job(handle)!;
    expect(job.attemptsMade).toBe(1);
    expect(job.failures).toEqual([
      {
        attempt: 1,
        error: { name: 'RetryTaskError', message: 'retry requested: HTTP 429' },
        retryInMs: 5,
        uncounted: true,
      },
    ]);
    expect(failures).toEqual([{ willRetry: true, retryInMs: 5, attempt: 1 }]);
  });

  it('counts uncounted retries past maxUncountedRetries, then dead-letters after the last attempt', async () => {
    const tasks = inline.get(TestTasks);
    const handle = await inline.get(TaskProducer).enqueue(Pushy, { asks: 9, countAttempt: false });
    await expect(handle.result()).rejects.toMatchObject({
      errorName: 'RetryTaskError',
      attemptsMade: 3,
    });
    const job = tasks.job(handle)!;
    expect(job.failures.map((f) => [f.attempt, f.uncounted ?? false, f.retryInMs])).toEqual([
      [1, true, 5],
      [1, true, 5],
      [1, false, 5],
      [2, false, 5],
      [3, false, undefined],
    ]);
    expect(inline.get(ParityHandlers).seen.get(handle.id)).toEqual([1, 1, 1, 2, 3]);
  });

  it('asks a backoff function for each retry, per error', async () => {
    const handle = await inline.get(TaskProducer).enqueue(ByError, { failures: 2 });
    await handle.result();
    const job = inline.get(TestTasks).job(handle)!;
    expect(job.failures.map((f) => f.retryInMs)).toEqual([5, 5]);
  });
});

describe('inline mode routes jobs as TaskProducer does', () => {
  const routing = {
    queues: { fast: {}, slow: {} },
    routes: { 'parity.add': 'fast', 'parity.d*': { queue: 'slow', priority: 3 } },
    router: (task: string, payload: unknown) =>
      task === 'parity.add' && (payload as { a: number }).a > 100 ? 'slow' : undefined,
  };
  const refused = async (attempt: Promise<unknown>) =>
    attempt.then(
      () => 'accepted',
      (error: Error) => ({ name: error.name, message: error.message }),
    );
  const routed: Record<string, Scenario> = {
    'a glob route': async (p) => {
      const handle = await p.enqueue(Add, { a: 1, b: 2 });
      return { queue: handle.queue, ...(await outcome(handle)) };
    },
    'the router by payload': async (p) => {
      const handle = await p.enqueue(Add, { a: 200, b: 1 });
      return { queue: handle.queue, ...(await outcome(handle)) };
    },
    'the call site over the router': async (p) => {
      const handle = await p.enqueue(Add, { a: 200, b: 1 }, { queue: 'default' });
      return { queue: handle.queue, ...(await outcome(handle)) };
    },
    'a batch split by the router': async (p) => {
      const handles = await p.enqueueMany(Add, [
        { a: 1, b: 1 },
        { a: 101, b: 1 },
      ]);
      return Promise.all(handles.map(async (h) => ({ queue: h.queue, ...(await outcome(h)) })));
    },
    'an undeclared queue': async (p) => refused(p.enqueue(Add, { a: 1, b: 1 }, { queue: 'fats' })),
    'a routed chain': async (p) => {
      const handle = await p.chain([step(Add, { a: 1, b: 2 }), step(Double)]);
      const result = await outcome(handle);
      return { queues: (await handle.steps()).map((s) => s.queue), result };
    },
  };
  let pair: Pair | undefined;

  beforeEach(async () => {
    pair = await startPair('parity-routes', routing);
  });
  afterEach(() => stopPair(pair));

  it.each(Object.keys(routed))('%s', async (name) => {
    const onRedis = await routed[name](pair!.real.get(TaskProducer));
    const inProcess = await routed[name](pair!.inline.get(TaskProducer));
    expect(inProcess).toEqual(onRedis);
  });

  it('runs an inline job on its routed queue', async () => {
    const handle = await pair!.inline.get(TaskProducer).enqueue(Double, 4);
    expect(handle.queue).toBe('slow');
    await expect(handle.result()).resolves.toBe(8);
  });
});
