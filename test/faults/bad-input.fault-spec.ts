import { Injectable } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { TransactionHost } from '@nestjs-cls/transactional';
import {
  Outbox,
  OUTBOX_STORE,
  OutboxModule,
  type OutboxStore,
  type OutboxTransactionalAdapter,
} from '@conveyor/outbox';
import {
  ConveyorError,
  defineTask,
  Task,
  type TaskHandle,
  TaskProducer,
  TasksModule,
} from '@conveyor/tasks';
import { Queue } from 'bullmq';
import fc from 'fast-check';
import { z } from 'zod';
import { PrivateRedis } from '../support/private-redis';
import { uniquePrefix } from '../support/redis';
import { items, report, until } from './ledger';

const Plain = defineTask<unknown, void>('fuzz.plain');
const Strict = defineTask('fuzz.strict', {
  schema: z.object({ id: z.string().min(1), qty: z.number().int().positive() }),
  maxPayloadBytes: 2_048,
});
const Once = defineTask<unknown, void>('fuzz.once', { idempotent: true, queue: 'once' });
const NAMES = [Plain.name, Strict.name, Once.name];

@Injectable()
class FuzzTasks {
  runs = 0;

  @Task(Plain)
  plain(): void {
    this.runs += 1;
  }

  @Task(Strict)
  strict(): void {
    this.runs += 1;
  }

  @Task(Once)
  once(): void {
    this.runs += 1;
  }
}

/** Task names: known ones, near misses, and values that are not names at all. */
const taskArb = fc.oneof(
  { arbitrary: fc.constantFrom(...NAMES), weight: 3 },
  { arbitrary: fc.constantFrom(Plain, Strict, Once), weight: 3 },
  fc.string(),
  fc.constantFrom('fuzz.Plain', 'fuzz.plain ', '', 'fuzz'),
  fc.anything(),
);

/** Payloads: JSON, almost-JSON, and values JSON cannot carry. */
const payloadArb = fc.oneof(
  { arbitrary: fc.jsonValue(), weight: 2 },
  {
    arbitrary: fc.record({ id: fc.string(), qty: fc.oneof(fc.integer(), fc.double()) }),
    weight: 2,
  },
  fc.anything({
    withBigInt: true,
    withDate: true,
    withMap: true,
    withSet: true,
    withTypedArray: true,
  }),
  fc.constantFrom<unknown>(
    () => 1,
    Symbol('s'),
    undefined,
    Number.NaN,
    Infinity,
    { toJSON: () => ({ id: 'x', qty: 1 }) },
    'x'.repeat(5_000),
    Object.create(null) as unknown,
  ),
);

/** Enqueue options: right keys with wrong values, typos, and non-objects. */
const optionsArb = fc.oneof(
  { arbitrary: fc.constant(undefined), weight: 3 },
  fc.record(
    {
      delay: fc.oneof(fc.integer({ min: -10, max: 60_000 }), fc.string(), fc.constant('5s')),
      runAt: fc.oneof(fc.date({ noInvalidDate: false }), fc.string()),
      priority: fc.oneof(fc.integer({ min: -5, max: 3_000_000 }), fc.double()),
      attempts: fc.oneof(fc.integer({ min: -2, max: 50 }), fc.string()),
      jobId: fc.oneof(fc.string(), fc.integer().map(String), fc.constant('a:b')),
      idempotencyKey: fc.oneof(fc.string(), fc.integer()),
    },
    { requiredKeys: [] },
  ),
  fc.dictionary(fc.string(), fc.anything(), { maxKeys: 3 }),
  fc.anything(),
);

describe('bad input, property-based', () => {
  let redis: PrivateRedis;
  let app: TestingModule | undefined;
  let workerApp: TestingModule | undefined;
  const prefix = uniquePrefix();

  beforeAll(async () => {
    redis = await PrivateRedis.start();
    app = await Test.createTestingModule({
      imports: [
        // No workers here, so the key count moves only when an enqueue writes.
        TasksModule.forRoot({
          connection: redis.url,
          prefix,
          queues: { default: {}, once: {} },
          workers: 'none',
        }),
        OutboxModule.forRoot({ relay: false }),
      ],
      providers: [FuzzTasks],
    }).compile();
    app.useLogger(false);
    await app.init();
  });
  afterAll(async () => {
    await workerApp?.close();
    await app?.close();
    await redis.destroy();
  });

  it('TaskProducer.enqueue either adds exactly one job or throws a ConveyorError and writes nothing', async () => {
    const producer = app!.get(TaskProducer);
    const admin = redis.client();
    const outcomes = { accepted: 0, rejected: 0 };
    const inspect = new Map(
      ['default', 'once'].map((name) => [
        name,
        new Queue(name, { connection: admin, prefix: `{${prefix}}` }),
      ]),
    );
    // Jobs of both queues in every state: no worker runs here, so only an enqueue moves it.
    const jobs = async () => {
      const counts = await Promise.all([...inspect.values()].map((q) => q.getJobCounts()));
      return counts.flatMap((c) => Object.values(c)).reduce((a, b) => a + b, 0);
    };
    // Ids handed out so far, per queue: a repeated id (same jobId, idempotency key or
    // idempotent payload) names the job already there and must not add another.
    const known = new Set<string>();
    try {
      await fc.assert(
        fc.asyncProperty(taskArb, payloadArb, optionsArb, async (task, payload, options) => {
          const before = { jobs: await jobs(), keys: await admin.dbsize() };
          let handle: TaskHandle | undefined;
          try {
            handle = await producer.enqueue(task as string, payload, options as never);
          } catch (error) {
            outcomes.rejected += 1;
            expect(error).toBeInstanceOf(ConveyorError);
            expect(await admin.dbsize()).toBe(before.keys); // no partial write
            return;
          }
          outcomes.accepted += 1;
          const key = `${handle.queue}\n${handle.id}`;
          const repeated = known.has(key);
          known.add(key);
          expect(await jobs()).toBe(before.jobs + (repeated ? 0 : 1));
          // A new job is the handle's: in the handle's queue, under the handle's task.
          if (!repeated) {
            const job = await inspect.get(handle.queue)!.getJob(handle.id);
            expect(job?.name).toBe(handle.taskName);
          }
        }),
        { numRuns: items(300, 5_000) },
      );
      expect(await jobs()).toBe(known.size);
      // Every accepted job runs on a worker, and none fails: bad input is refused at the edge,
      // never a job that fails later for the same reason. Delayed jobs (and retries waiting
      // out their backoff) are promoted, so "nothing failed" covers every job, not only the
      // ones that happened to be due.
      workerApp = await Test.createTestingModule({
        imports: [
          TasksModule.forRoot({ connection: redis.url, prefix, queues: { default: {}, once: {} } }),
        ],
        providers: [FuzzTasks],
      }).compile();
      workerApp.useLogger(false);
      await workerApp.init();
      const fuzz = workerApp.get(FuzzTasks);
      const queues = [...inspect.values()];
      const PENDING = ['waiting', 'prioritized', 'delayed', 'active', 'waiting-children'] as const;
      await until(
        async () => {
          await Promise.all(queues.map((q) => q.promoteJobs()));
          const counts = await Promise.all(queues.map((q) => q.getJobCounts(...PENDING)));
          return counts.every((c) => PENDING.every((state) => c[state] === 0));
        },
        60_000,
        'every accepted job to run',
      );
      const done = await Promise.all(queues.map((q) => q.getJobCounts('completed', 'failed')));
      expect(done.map((c) => c.failed)).toEqual([0, 0]);
      expect(done.reduce((sum, c) => sum + c.completed, 0)).toBe(known.size);
      expect(fuzz.runs).toBe(known.size);
      report({
        scenario: 'bad input at TaskProducer.enqueue (fast-check)',
        items: outcomes.accepted + outcomes.rejected,
        faults: outcomes.rejected,
        ran: fuzz.runs,
        lost: 0,
        runs: fuzz.runs,
        duplicatesAbsorbed: 0,
        accepted: outcomes.accepted,
      });
      expect(outcomes.accepted).toBeGreaterThan(0);
      expect(outcomes.rejected).toBeGreaterThan(0);
    } finally {
      await Promise.all([...inspect.values()].map((q) => q.close()));
      admin.disconnect();
    }
  });

  it('Outbox.enqueue either writes exactly one row or throws a ConveyorError and writes nothing', async () => {
    const outbox = app!.get(Outbox);
    const txHost = app!.get<TransactionHost<OutboxTransactionalAdapter>>(TransactionHost);
    const store = app!.get<OutboxStore>(OUTBOX_STORE);
    const rows = async () => (await store.stats()).pending;
    const outcomes = { accepted: 0, rejected: 0 };
    await fc.assert(
      fc.asyncProperty(taskArb, payloadArb, optionsArb, async (task, payload, options) => {
        const before = await rows();
        let thrown: unknown;
        // The app catches the error and commits the rest of its transaction anyway: a failed
        // enqueue must not have left a row behind.
        await txHost.withTransaction(async () => {
          try {
            await outbox.enqueue(task as string, payload, options as never);
          } catch (error) {
            thrown = error;
          }
        });
        if (thrown === undefined) {
          outcomes.accepted += 1;
          expect(await rows()).toBe(before + 1);
        } else {
          outcomes.rejected += 1;
          expect(thrown).toBeInstanceOf(ConveyorError);
          expect(await rows()).toBe(before);
        }
      }),
      { numRuns: items(300, 5_000) },
    );
    report({
      scenario: 'bad input at Outbox.enqueue (fast-check)',
      items: outcomes.accepted + outcomes.rejected,
      faults: outcomes.rejected,
      ran: outcomes.accepted,
      lost: 0,
      runs: 0,
      duplicatesAbsorbed: 0,
    });
    expect(outcomes.accepted).toBeGreaterThan(0);
    expect(outcomes.rejected).toBeGreaterThan(0);
  });
});
