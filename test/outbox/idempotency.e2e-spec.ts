import { Injectable } from '@nestjs/common';
import { TransactionHost } from '@nestjs-cls/transactional';
import { Outbox, OutboxRelay, type OutboxTransactionalAdapter } from '@conveyor/outbox';
import { defineTask, Task, type TaskContext, TaskProducer } from '@conveyor/tasks';
import { countJobs } from '../support/redis';
import { eventually } from '../support/tasks-app';
import {
  openSql,
  type OutboxTestApp,
  type Sql,
  startOutboxApp,
  stopOutboxApps,
} from '../support/outbox-app';

interface Charge {
  orderId: string;
  cents: number;
}

const ChargeOrder = defineTask<Charge, void>('order.charge', { idempotent: true });
const ChargeOnPaid = defineTask<Charge, void>('order.charge-on-paid', { idempotent: true });
const NotifyOnPaid = defineTask<Charge, void>('order.notify-on-paid');

/** Every run of the handlers, with its job id. */
@Injectable()
class Charges {
  readonly runs: Array<{ task: string; orderId: string; jobId: string }> = [];

  @Task(ChargeOrder)
  charge({ orderId }: Charge, ctx: TaskContext): void {
    this.runs.push({ task: ChargeOrder.name, orderId, jobId: ctx.jobId });
  }

  @Task(ChargeOnPaid, { on: 'order.paid' })
  chargeOnPaid({ orderId }: Charge, ctx: TaskContext): void {
    this.runs.push({ task: ChargeOnPaid.name, orderId, jobId: ctx.jobId });
  }

  @Task(NotifyOnPaid, { on: 'order.paid' })
  notify({ orderId }: Charge, ctx: TaskContext): void {
    this.runs.push({ task: NotifyOnPaid.name, orderId, jobId: ctx.jobId });
  }
}

describe('idempotent tasks through the outbox on PostgreSQL', () => {
  let sql: Sql;
  let app: OutboxTestApp | undefined;

  beforeAll(async () => {
    sql = await openSql('postgres');
  });
  afterAll(() => sql.close());
  afterEach(async () => {
    await stopOutboxApps(sql, app);
    app = undefined;
  });

  async function start(workers: 'all' | 'none') {
    app = await startOutboxApp({
      backend: 'postgres',
      outbox: { relay: workers === 'all' ? { pollInterval: '50ms' } : false },
      tasks: { workers },
      providers: [Charges],
    });
    const txHost = app.get<TransactionHost<OutboxTransactionalAdapter>>(TransactionHost);
    const outbox = app.get(Outbox);
    return {
      app,
      /** `fn` in a transaction of its own, committed. */
      inTransaction: <T>(fn: (outbox: Outbox) => Promise<T>) =>
        txHost.withTransaction(() => fn(outbox)),
    };
  }

  async function drained(app: OutboxTestApp): Promise<void> {
    await eventually(
      async () => (await app.get(OutboxRelay).stats()).pending === 0,
      10_000,
      'the outbox to drain',
    );
  }

  it('turns two identical enqueues of an idempotent task, in two transactions, into one job and one run', async () => {
    const { app, inTransaction } = await start('all');
    // Same payload, keys in another order: one job, as with TaskProducer.enqueue.
    const first = await inTransaction((outbox) =>
      outbox.enqueue(ChargeOrder, { orderId: 'o-1', cents: 500 }),
    );
    const second = await inTransaction((outbox) =>
      outbox.enqueue(ChargeOrder, { cents: 500, orderId: 'o-1' }),
    );
    expect(second.id).not.toBe(first.id);
    expect(second.jobId).toBe(first.jobId);
    // The id TaskProducer derives for the same task and payload.
    const direct = await app.get(TaskProducer).enqueue(ChargeOrder, { orderId: 'o-1', cents: 500 });
    expect(direct.id).toBe(first.jobId);

    await drained(app);
    const charges = app.get(Charges);
    await eventually(() => charges.runs.length > 0, 10_000, 'the charge to run');
    // Both rows are published and the producer's enqueue went through: had either made a
    // second job, it would be in Redis now (ran or waiting).
    expect(await countJobs(app.prefix, ['default'])).toBe(1);
    expect(charges.runs).toEqual([{ task: ChargeOrder.name, orderId: 'o-1', jobId: first.jobId }]);
  });

  it('lets an explicit idempotencyKey or jobId win over the key derived from the payload', async () => {
    const { app, inTransaction } = await start('none');
    const payload = { orderId: 'o-2', cents: 700 };
    const derived = await inTransaction((outbox) => outbox.enqueue(ChargeOrder, payload));
    const keyed = await inTransaction((outbox) =>
      outbox.enqueue(ChargeOrder, payload, { idempotencyKey: 'charge:o-2' }),
    );
    const named = await inTransaction((outbox) =>
      outbox.enqueue(ChargeOrder, payload, { jobId: 'charge-o-2' }),
    );
    expect(new Set([derived.jobId, keyed.jobId, named.jobId]).size).toBe(3);
    expect(named.jobId).toBe('charge-o-2');
    const producer = app.get(TaskProducer);
    expect(
      (await producer.enqueue(ChargeOrder, payload, { idempotencyKey: 'charge:o-2' })).id,
    ).toBe(keyed.jobId);
    expect(await app.get(OutboxRelay).drain()).toBe(3);
    expect(await countJobs(app.prefix, ['default'])).toBe(3);
  });

  it('publishes an event emitted twice with one payload as one job for an idempotent subscriber', async () => {
    const { app, inTransaction } = await start('none');
    const payload = { orderId: 'o-3', cents: 900 };
    const first = await inTransaction((outbox) => outbox.emit('order.paid', payload));
    const second = await inTransaction((outbox) => outbox.emit('order.paid', payload));
    const jobOf = (emission: typeof first, task: string) =>
      emission.jobs.find((job) => job.task === task)!.jobId;
    // The idempotent subscriber: one job id for both events, the producer's.
    expect(jobOf(second, ChargeOnPaid.name)).toBe(jobOf(first, ChargeOnPaid.name));
    expect((await app.get(TaskProducer).enqueue(ChargeOnPaid, payload)).id).toBe(
      jobOf(first, ChargeOnPaid.name),
    );
    // The other subscriber keeps one job per event.
    expect(jobOf(second, NotifyOnPaid.name)).not.toBe(jobOf(first, NotifyOnPaid.name));
    expect(await app.get(OutboxRelay).drain()).toBe(2);
    expect(await countJobs(app.prefix, ['default'])).toBe(3);
  });
});
