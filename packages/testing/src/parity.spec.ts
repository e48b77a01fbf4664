import { Injectable } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import {
  defineTask,
  step,
  Task,
  type TaskContext,
  type TaskHandle,
  TaskProducer,
  TasksModule,
  UnrecoverableTaskError,
  type WorkflowHandle,
} from '@conveyor/tasks';
import { ConveyorTestingModule } from './conveyor-testing.module';
import { removePrefix, testPrefix } from './redis/redis-helpers';

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
const Boom = defineTask<number, never>('parity.boom');

@Injectable()
class ParityHandlers {
  runs = 0;

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
    return { ok: false, name, errorName, reason, attemptsMade, taskName };
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
  'a group': async (p) => outcome(await p.group([step(Double, 1), step(Double, 2)])),
};

describe('inline mode ends jobs as a worker on Redis does', () => {
  let prefix: string;
  let real: TestingModule;
  let inline: TestingModule;

  beforeAll(async () => {
    prefix = testPrefix('parity');
    real = await Test.createTestingModule({
      imports: [TasksModule.forRoot({ connection: REDIS_URL, prefix })],
      providers: [ParityHandlers],
    }).compile();
    real.useLogger(false);
    await real.init();
    inline = await Test.createTestingModule({
      imports: [ConveyorTestingModule.forRoot()],
      providers: [ParityHandlers],
    }).compile();
    inline.useLogger(false);
    await inline.init();
  });

  afterAll(async () => {
    await real?.close();
    await inline?.close();
    if (prefix) await removePrefix(REDIS_URL, prefix);
  });

  it.each(Object.keys(scenarios))('%s', async (name) => {
    const onRedis = await scenarios[name](real.get(TaskProducer));
    const runsOnRedis = real.get(ParityHandlers).runs;
    const inProcess = await scenarios[name](inline.get(TaskProducer));

    expect(inProcess).toEqual(onRedis);
    expect(inline.get(ParityHandlers).runs).toBe(runsOnRedis);
  });
});
