import { Injectable } from '@nestjs/common';
import {
  defineTask,
  InvalidTaskOptionsError,
  QueueInspector,
  Task,
  type TaskContext,
  TaskControl,
  TaskProducer,
  type TenantInfo,
  type TenantPage,
} from '@conveyor/tasks';
import { PrivateRedis } from '../support/private-redis';
import { eventually, startTasksApp, stopAll, type TestApp } from '../support/tasks-app';

const Import = defineTask<{ tenant: string; n: number }, void>('tenant.import', {
  queue: 'tenants',
  concurrencyKey: ({ tenant }) => tenant,
  maxConcurrent: 2,
});
const Sync = defineTask<{ account: string; n: number }, void>('crm.sync', {
  queue: 'tenants',
  lock: ({ account }) => account,
});
// A task-wide limit: not per key, so not a tenant.
const Render = defineTask<{ n: number }, void>('pdf.render', {
  queue: 'tenants',
  maxConcurrent: 1,
});
// One start per key an hour: a key's second job parks in the key's line.
const Notify = defineTask<{ user: string; n: number }, void>('user.notify', {
  queue: 'lines',
  concurrencyKey: ({ user }) => user,
  rateLimit: { max: 1, per: '1h' },
});

/** Holds every run of the blocking tasks until the test lets them go. */
class Gate {
  private release!: () => void;
  readonly open = new Promise<void>((resolve) => (this.release = resolve));
  let(): void {
    this.release();
  }
}

@Injectable()
class TenantTasks {
  constructor(private readonly gate: Gate) {}

  @Task(Import)
  async import(_: { tenant: string }, ctx: TaskContext): Promise<void> {
    await Promise.race([this.gate.open, aborted(ctx)]);
  }

  @Task(Sync)
  async sync(_: { account: string }, ctx: TaskContext): Promise<void> {
    await Promise.race([this.gate.open, aborted(ctx)]);
  }

  @Task(Render)
  async render(_: { n: number }, ctx: TaskContext): Promise<void> {
    await Promise.race([this.gate.open, aborted(ctx)]);
  }

  @Task(Notify)
  notify(): void {}
}

function aborted(ctx: TaskContext): Promise<void> {
  return new Promise((resolve) => ctx.signal.addEventListener('abort', () => resolve()));
}

const byKey = (tenants: TenantInfo[]) =>
  Object.fromEntries(tenants.map((t) => [`${t.task}/${t.key}`, t]));

describe('QueueInspector.tenants', () => {
  let app: TestApp | undefined;
  let gate: Gate;
  let redis: PrivateRedis | undefined;

  beforeEach(() => {
    gate = new Gate();
  });

  afterEach(async () => {
    gate.let();
    await stopAll(app);
    app = undefined;
    await redis?.destroy();
    redis = undefined;
  });

  it('lists each key with its running and parked jobs and its limit, most parked first', async () => {
    app = await startTasksApp([{ provide: Gate, useValue: gate }, TenantTasks], {
      queues: { tenants: { concurrency: 20 }, lines: {} },
    });
    const producer = app.get(TaskProducer);
    for (let n = 0; n < 5; n++) await producer.enqueue(Import, { tenant: 'acme', n });
    for (let n = 0; n < 3; n++) await producer.enqueue(Import, { tenant: 'globex', n });
    await producer.enqueue(Import, { tenant: 'initech', n: 0 });
    for (let n = 0; n < 2; n++) await producer.enqueue(Sync, { account: 'a-1', n });
    for (let n = 0; n < 2; n++) await producer.enqueue(Render, { n });

    const inspector = app.get(QueueInspector);
    const expected = {
      'tenant.import/acme': { running: 2, parked: 3, limit: 2 },
      'tenant.import/globex': { running: 2, parked: 1, limit: 2 },
      'crm.sync/a-1': { running: 1, parked: 1, limit: 1 },
      // Runs with no backlog: found among the queue's active jobs.
      'tenant.import/initech': { running: 1, parked: 0, limit: 2 },
    };
    const settled = (tenants: TenantInfo[]) => {
      const found = byKey(tenants);
      return Object.entries(expected).every(
        ([key, want]) =>
          found[key] &&
          found[key].running === want.running &&
          found[key].parked === want.parked &&
          found[key].reserved === 0,
      );
    };
    const page = (await eventually<TenantPage | undefined>(
      async () => {
        const read = await inspector.tenants('tenants');
        return settled(read.tenants) ? read : undefined;
      },
      15_000,
      'every key running up to its limit with the rest parked',
    ))!;
    expect(page.cursor).toBeNull();
    expect(page.queue).toBe('tenants');
    // Only keyed limits: the task-wide limit of pdf.render is no tenant.
    expect(page.tenants.map((t) => `${t.task}/${t.key}`)).toEqual([
      'tenant.import/acme',
      'tenant.import/globex',
      'crm.sync/a-1',
      'tenant.import/initech',
    ]);
    for (const [key, want] of Object.entries(expected)) {
      expect(byKey(page.tenants)[key]).toMatchObject(want);
    }

    // A limit raised at run time: the lines take it at once (and wake what it allows), and a
    // key with no line shows the task's limit as it runs now.
    await app.get(TaskControl).setTaskLimits(Import, { maxConcurrent: 3 });
    const raised = await eventually(
      async () => {
        const read = byKey((await inspector.tenants('tenants')).tenants);
        return read['tenant.import/acme']?.running === 3 &&
          read['tenant.import/globex']?.running === 3
          ? read
          : undefined;
      },
      15_000,
      'the raised limit to start one more job of each parked key',
    );
    expect(raised!['tenant.import/acme']).toMatchObject({ limit: 3, parked: 2 });
    expect(raised!['tenant.import/globex']).toMatchObject({ limit: 3, parked: 0 });
    expect(raised!['tenant.import/initech']).toMatchObject({ limit: 3, running: 1 });
    // A lock stays one at a time.
    expect(raised!['crm.sync/a-1']).toMatchObject({ limit: 1, running: 1, parked: 1 });

    // Let them run: every line drains, and nothing is left to list.
    gate.let();
    await eventually(
      async () => (await inspector.tenants('tenants')).tenants.length === 0,
      15_000,
      'every line drained',
    );
  });

  it('pages through many keys with a cursor, each key once', async () => {
    // A server that stores a hash of more than 16 fields as a table, which HSCAN reads a step
    // at a time (a smaller hash comes whole, in one step): as a large app's lines would be.
    redis = await PrivateRedis.start({ args: ['--hash-max-listpack-entries', '16'] });
    app = await startTasksApp([{ provide: Gate, useValue: gate }, TenantTasks], {
      connection: redis.url,
      queues: { tenants: {}, lines: { concurrency: 20 } },
    });
    const producer = app.get(TaskProducer);
    const users = Array.from({ length: 150 }, (_, i) => `user-${i}`);
    // Each user's first job runs; the second finds the hour's one start taken, and parks.
    for (const user of users) await producer.enqueue(Notify, { user, n: 1 });
    for (const user of users) await producer.enqueue(Notify, { user, n: 2 });
    const inspector = app.get(QueueInspector);

    const readAll = async () => {
      const seen = new Map<string, TenantInfo>();
      let pages = 0;
      let cursor: string | undefined;
      do {
        const page = await inspector.tenants('lines', { limit: 20, cursor });
        pages++;
        for (const t of page.tenants) seen.set(t.key, t);
        cursor = page.cursor ?? undefined;
      } while (cursor);
      return { seen, pages };
    };
    const { seen, pages } = (await eventually<Awaited<ReturnType<typeof readAll>> | undefined>(
      async () => {
        const read = await readAll();
        return [...read.seen.values()].filter((t) => t.parked === 1).length === users.length
          ? read
          : undefined;
      },
      20_000,
      'every user with one job parked',
    ))!;
    expect(pages).toBeGreaterThan(1);
    expect([...seen.keys()].sort()).toEqual([...users].sort());
    expect(seen.get('user-7')).toEqual({
      task: 'user.notify',
      key: 'user-7',
      running: 0,
      reserved: 0,
      limit: null,
      rateLimit: { max: 1, durationMs: 3_600_000 },
      parked: 1,
    });
  });

  it('refuses a bad limit or cursor with a clear error', async () => {
    app = await startTasksApp([{ provide: Gate, useValue: gate }, TenantTasks], {
      queues: { tenants: {}, lines: {} },
    });
    const inspector = app.get(QueueInspector);
    await expect(inspector.tenants('tenants', { limit: 0 })).rejects.toThrow(
      InvalidTaskOptionsError,
    );
    await expect(inspector.tenants('tenants', { limit: 5_000 })).rejects.toThrow(/1 to 1000/);
    await expect(inspector.tenants('tenants', { cursor: 'x' })).rejects.toThrow(/cursor/);
    expect(await inspector.tenants('tenants')).toEqual({
      queue: 'tenants',
      tenants: [],
      cursor: null,
    });
  });
});
