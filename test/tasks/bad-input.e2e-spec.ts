import { Injectable } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  defineTask,
  InvalidLimitKeyError,
  InvalidModuleOptionsError,
  InvalidPayloadError,
  InvalidTaskOptionsError,
  Task,
  TaskProducer,
  TasksModule,
  type TasksModuleOptions,
  UnknownTaskError,
} from '@conveyor/tasks';
import { z } from 'zod';
import { countKeys, REDIS_URL, uniquePrefix } from '../support/redis';
import { startTasksApp, stopAll, type TestApp } from '../support/tasks-app';

const Order = defineTask('order.place', {
  schema: z.object({ orderId: z.string().uuid(), amountCents: z.number().int().positive() }),
  maxPayloadBytes: 1024,
});
const Note = defineTask<unknown, void>('note', { queue: 'notes' });
const Stray = defineTask<unknown, void>('stray', { queue: 'not-declared' });
const Sync = defineTask<{ account?: string }, void>('crm.sync', {
  queue: 'notes',
  lock: ({ account }) => account!,
});

@Injectable()
class Handlers {
  @Task(Order)
  place(): void {}

  @Task(Note)
  note(): void {}

  @Task(Sync)
  sync(): void {}
}

describe('bad input at enqueue', () => {
  let app: TestApp;
  let producer: TaskProducer;

  beforeAll(async () => {
    app = await startTasksApp([Handlers], { queues: { notes: {} }, workers: 'none' });
    producer = app.get(TaskProducer);
  });
  afterAll(async () => {
    // Every rejected call below must have left Redis untouched under this prefix.
    expect(await countKeys(app.prefix)).toBe(0);
    await stopAll(app);
  });

  const cyclic: Record<string, unknown> = { a: 1 };
  cyclic.self = cyclic;

  it.each([
    ['a function', { run: () => 1 }, /payload\.run is a function/],
    ['a BigInt', { total: 10n }, /payload\.total is a bigint/],
    ['a cycle', cyclic, /payload\.self refers back to an enclosing object/],
    ['undefined at the top level', undefined, /payload is undefined/],
    ['a Date', { at: new Date() }, /payload\.at is a Date/],
    ['a Map', { index: new Map() }, /payload\.index is a Map instance/],
    ['NaN', { n: Number.NaN }, /payload\.n is NaN/],
  ])('rejects a payload holding %s, naming the task and the path', async (_, payload, message) => {
    const error = await producer.enqueue(Note, payload).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidPayloadError);
    expect((error as Error).message).toMatch(/^Invalid payload for task "note": /);
    expect((error as Error).message).toMatch(message);
  });

  it('rejects a payload over the size limit', async () => {
    const error = await producer
      .enqueue(Order, {
        orderId: crypto.randomUUID(),
        amountCents: 1,
        pad: 'x'.repeat(2000),
      } as never)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidPayloadError);
    expect((error as Error).message).toMatch(/over the limit of 1024 bytes/);
  });

  it('rejects a payload over the default limit of 512 KiB', async () => {
    await expect(producer.enqueue(Note, { blob: 'x'.repeat(512 * 1024) })).rejects.toThrow(
      /over the limit of 524288 bytes/,
    );
  });

  it('rejects a payload that fails the schema, listing each problem', async () => {
    const error = await producer
      .enqueue(Order, { orderId: 'nope', amountCents: -5 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidPayloadError);
    expect((error as InvalidPayloadError).problems).toEqual([
      expect.stringMatching(/^payload\.orderId: /),
      expect.stringMatching(/^payload\.amountCents: /),
    ]);
  });

  it('rejects an unknown task name, listing the known ones', async () => {
    const error = await producer.enqueue('order.plaec', {}).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnknownTaskError);
    expect((error as Error).message).toMatch(
      /Unknown task "order\.plaec"\. Known tasks: order\.place, note/,
    );
  });

  it.each([
    [{ delay: -1 }, /delay must be a non-negative number/],
    [{ delay: 'soon' }, /delay must be milliseconds or a duration/],
    [{ attempts: 0 }, /attempts must be an integer from 1/],
    [{ priority: 1.5 }, /priority must be an integer from 0 to 2097152/],
    [{ jobId: '42' }, /jobId must be .* not a plain integer/],
    [{ jobId: 'a:b' }, /jobId must be .* without ':'/],
    [{ runAt: 'tomorrow' }, /runAt must be a valid Date/],
    [{ delay: 5, runAt: new Date() }, /either delay or runAt/],
    [{ attemps: 3 }, /unknown option attemps \(did you mean 'attempts'\?\)/],
  ])('rejects enqueue options %p', async (options, message) => {
    const error = await producer.enqueue(Note, {}, options as never).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidTaskOptionsError);
    expect((error as Error).message).toMatch(/^Invalid options for task "note": /);
    expect((error as Error).message).toMatch(message);
  });

  it('rejects a task routed to a queue the module does not declare', async () => {
    const error = await producer.enqueue(Stray, {}).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidTaskOptionsError);
    expect((error as Error).message).toMatch(/task "stray": queue 'not-declared' is not declared/);
  });

  it('adds none of a bulk when one payload is bad', async () => {
    await expect(
      producer.enqueueMany(Note, [{ ok: 1 }, { bad: () => 1 }, { ok: 3 }]),
    ).rejects.toThrow(/\[1\] payload\.bad is a function/);
  });

  it('rejects a payload whose lock key cannot be computed, and adds none of its bulk', async () => {
    const error = await producer.enqueue(Sync, {}).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidLimitKeyError);
    expect((error as Error).message).toMatch(/crm\.sync.*got undefined/);
    await expect(producer.enqueueMany(Sync, [{ account: 'a' }, { account: '' }])).rejects.toThrow(
      InvalidLimitKeyError,
    );
  });
});

describe('bad options at startup', () => {
  async function boot(options: Partial<TasksModuleOptions>, providers: unknown[] = []) {
    const moduleRef = await Test.createTestingModule({
      imports: [TasksModule.forRoot({ connection: REDIS_URL, prefix: uniquePrefix(), ...options })],
      providers: providers as never,
    }).compile();
    moduleRef.useLogger(false);
    try {
      await moduleRef.init();
    } finally {
      await moduleRef.close();
    }
  }

  it.each([
    [{ conection: 'x' }, /unknown option conection \(did you mean 'connection'\?\)/],
    [
      { connection: 'http://localhost' },
      /connection must be a URL starting with redis:\/\/ or rediss:\/\//,
    ],
    [{ prefix: 'a:b' }, /prefix must be/],
    [
      { queues: { email: { concurency: 5 } } },
      /unknown option queues\.email\.concurency \(did you mean 'concurrency'\?\)/,
    ],
    [
      { queues: { email: { concurrency: 0 } } },
      /queues\.email\.concurrency must be an integer from 1/,
    ],
    [
      { queues: { email: { rateLimit: { max: 10, per: 'often' } } } },
      /queues\.email\.rateLimit\.per must be/,
    ],
    [{ defaults: { attempts: -1 } }, /defaults\.attempts must be an integer from 1/],
    [
      { defaults: { backoff: { type: 'linear', delay: 1 } } },
      /defaults\.backoff\.type must be 'fixed' or 'exponential'/,
    ],
    [{ workers: 'some' }, /workers must be 'all', 'none' or a list/],
    [{ shutdownTimeout: '5 minutes' }, /shutdownTimeout must be/],
  ])('refuses %p', async (options, message) => {
    const error = await boot(options as never).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidModuleOptionsError);
    expect((error as Error).message).toMatch(message);
  });

  it('refuses a worker list naming a queue no handler uses', async () => {
    await expect(boot({ workers: ['nobody-home'] }, [Handlers])).rejects.toThrow(
      /workers lists queue 'nobody-home', but no @Task\(\) handler in this app routes to it/,
    );
  });

  it('refuses a handler routed to an undeclared queue', async () => {
    await expect(boot({ queues: { email: {} } }, [Handlers])).rejects.toThrow(
      /task "note": queue 'notes' is not declared/,
    );
  });

  it('rejects bad task options in defineTask, naming the task and the option', () => {
    expect(() => defineTask('t', { atempts: 3 } as never)).toThrow(
      /Invalid options for task "t": unknown option atempts \(did you mean 'attempts'\?\)/,
    );
    expect(() => defineTask('t', { timeout: 'forever' as never })).toThrow(
      /timeout must be milliseconds/,
    );
    expect(() => defineTask('bad:name')).toThrow(/task name must be/);
  });
});
