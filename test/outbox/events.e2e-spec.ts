import { Injectable, type Provider } from '@nestjs/common';
import { TransactionHost } from '@nestjs-cls/transactional';
import {
  Outbox,
  type OutboxModuleOptions,
  OutboxRelay,
  type OutboxTransactionalAdapter,
  UnknownEventError,
} from '@conveyor/outbox';
import { defineEvent, Task, type TaskContext } from '@conveyor/tasks';
import { eventually } from '../support/tasks-app';
import {
  openSql,
  type OutboxTestApp,
  type Sql,
  startOutboxApp,
  stopOutboxApps,
} from '../support/outbox-app';
import { OrderCreated, OrderTasks, OrderUpdated, Seen, SendConfirmation } from './fixtures';

const OrderArchived = defineEvent<{ orderId: string }>('order.archived');

/** A subscriber declared by task name: its handler is checked against the event's payload. */
@Injectable()
class Notifications {
  constructor(private readonly seen: Seen) {}

  @Task('order.notify', { on: OrderUpdated })
  notify(payload: { orderId: string }, ctx: TaskContext): void {
    this.seen.runs.push({ task: 'notify', orderId: payload.orderId, jobId: ctx.jobId });
  }
}

describe('typed outbox events on PostgreSQL', () => {
  let sql: Sql;
  let apps: OutboxTestApp[] = [];

  beforeAll(async () => {
    sql = await openSql('postgres');
  });
  afterAll(() => sql.close());
  afterEach(async () => {
    await stopOutboxApps(sql, ...apps);
    apps = [];
  });

  async function start(
    options: {
      outbox?: Partial<OutboxModuleOptions>;
      workers?: 'all' | 'none';
      providers?: Provider[];
      table?: string;
      prefix?: string;
    } = {},
  ) {
    const app = await startOutboxApp({
      backend: 'postgres',
      table: options.table,
      prefix: options.prefix,
      outbox: { relay: false, ...options.outbox },
      tasks: { workers: options.workers ?? 'all' },
      providers: options.providers ?? [Seen, OrderTasks, Notifications],
    });
    apps.push(app);
    const txHost = app.get<TransactionHost<OutboxTransactionalAdapter>>(TransactionHost);
    const outbox = app.get(Outbox);
    return {
      app,
      /** `fn` in a transaction of its own: committed, or rolled back if it throws. */
      inTransaction: <T>(fn: (outbox: Outbox) => Promise<T>) =>
        txHost.withTransaction(() => fn(outbox)),
    };
  }

  const rows = (table: string) =>
    sql.query<{ kind: string; name: string }>(`SELECT kind, name FROM "${table}" ORDER BY id`);

  it('runs every task subscribed to a typed event, by reference or by task name, once', async () => {
    const { app, inTransaction } = await start({ outbox: { relay: { pollInterval: '50ms' } } });
    const emitted = await inTransaction((outbox) => outbox.emit(OrderUpdated, { orderId: 'e-1' }));
    expect(emitted.jobs.map((job) => job.task)).toEqual(['order.index', 'order.notify']);

    const seen = app.get(Seen);
    await eventually(() => seen.runs.length === 2, 10_000, 'both subscribers to run');
    expect(seen.runs.sort((a, b) => a.task.localeCompare(b.task))).toEqual([
      { task: 'index', orderId: 'e-1', jobId: `outbox-${emitted.id}-order.index` },
      { task: 'notify', orderId: 'e-1', jobId: `outbox-${emitted.id}-order.notify` },
    ]);
    expect(await rows(app.table)).toEqual([{ kind: 'event', name: 'order.updated' }]);
  });

  it('refuses a mistyped event with UnknownEventError naming the nearest, and the transaction rolls back', async () => {
    const { app, inTransaction } = await start();
    const attempt = inTransaction(async (outbox) => {
      await outbox.enqueue(SendConfirmation, { orderId: 'e-2' });
      return outbox.emit('order.craeted', { orderId: 'e-2' });
    });
    await expect(attempt).rejects.toBeInstanceOf(UnknownEventError);
    await expect(attempt).rejects.toMatchObject({
      event: 'order.craeted',
      suggestion: 'order.created',
      subscribed: ['order.created', 'order.updated'],
    });
    await expect(attempt).rejects.toThrow(/Did you mean "order.created"\?/);
    expect(await rows(app.table)).toEqual([]);
  });

  it('writes no row for an event allowed by events.allowUnsubscribed, and commits the rest', async () => {
    const { app, inTransaction } = await start({
      outbox: { events: { allowUnsubscribed: [OrderArchived] } },
    });
    const archived = await inTransaction(async (outbox) => {
      await outbox.enqueue(SendConfirmation, { orderId: 'e-3' });
      return outbox.emit(OrderArchived, { orderId: 'e-3' });
    });
    expect(archived).toEqual({ id: undefined, jobIds: [], jobs: [] });
    expect(await rows(app.table)).toEqual([{ kind: 'task', name: 'order.send-confirmation' }]);
    // The list allows those events only: a typo is still an error.
    await expect(
      inTransaction((outbox) => outbox.emit('order.archivd', { orderId: 'e-3' })),
    ).rejects.toThrow(
      /^No task subscribes to event "order.archivd".* Did you mean "order.archived"\?/,
    );
  });

  it('lets a process that runs no workers emit for the handlers it registers, run elsewhere', async () => {
    const producer = await start({
      workers: 'none',
      outbox: { relay: { pollInterval: '50ms' } },
    });
    const worker = await start({
      workers: 'all',
      table: producer.app.table,
      prefix: producer.app.prefix,
    });
    const emitted = await producer.inTransaction((outbox) =>
      outbox.emit(OrderCreated, { orderId: 'e-4' }),
    );
    expect(emitted.jobs.map((job) => job.task).sort()).toEqual(['order.audit', 'order.index']);
    const ran = worker.app.get(Seen);
    await eventually(() => ran.runs.length === 2, 10_000, 'the worker process to run both');
    expect(ran.runs.map((run) => run.task).sort()).toEqual(['audit', 'index']);
    expect(producer.app.get(Seen).runs).toEqual([]);
    // The relay marks the row published after Redis took its jobs, and those may have run
    // (here they did) before the mark commits: wait for the mark, do not race it.
    await eventually(
      async () => (await producer.app.get(OutboxRelay).stats()).pending === 0,
      10_000,
      'the row to be marked published',
    );
  });

  it('refuses every event in a process with no task handlers, unless unsubscribed events are allowed', async () => {
    const bare = await start({ providers: [] });
    const attempt = bare.inTransaction((outbox) => outbox.emit(OrderCreated, { orderId: 'e-5' }));
    await expect(attempt).rejects.toMatchObject({ name: 'UnknownEventError', subscribed: [] });
    await expect(attempt).rejects.toThrow(/No task in this app subscribes to any event/);
    expect(await rows(bare.app.table)).toEqual([]);

    const allowing = await start({
      providers: [],
      outbox: { events: { allowUnsubscribed: true } },
    });
    await expect(
      allowing.inTransaction((outbox) => outbox.emit(OrderCreated, { orderId: 'e-5' })),
    ).resolves.toEqual({ id: undefined, jobIds: [], jobs: [] });
    expect(await rows(allowing.app.table)).toEqual([]);
  });
});
