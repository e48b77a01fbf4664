import { TransactionHost } from '@nestjs-cls/transactional';
import { Outbox, type OutboxTransactionalAdapter } from '@conveyor/outbox';
import { InvalidTaskOptionsError } from '@conveyor/tasks';
import { eventually } from '../support/tasks-app';
import {
  openSql,
  type OutboxTestApp,
  type Sql,
  startOutboxApp,
  stopOutboxApps,
} from '../support/outbox-app';
import { OrderCreated, OrderTasks, Seen, SendConfirmation } from './fixtures';

describe('routes on outbox enqueues and emits (PostgreSQL)', () => {
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

  async function start() {
    app = await startOutboxApp({
      backend: 'postgres',
      outbox: { relay: { pollInterval: '50ms' } },
      tasks: {
        queues: { audit: {}, orders: {}, vip: {} },
        routes: { 'order.send-*': 'orders', 'order.**': { queue: 'audit', priority: 3 } },
        router: (task, payload) =>
          task === 'order.send-confirmation' && (payload as { orderId: string }).orderId === 'vip'
            ? 'vip'
            : undefined,
      },
      providers: [Seen, OrderTasks],
    });
    const txHost = app.get<TransactionHost<OutboxTransactionalAdapter>>(TransactionHost);
    const outbox = app.get(Outbox);
    return <T>(fn: (outbox: Outbox) => Promise<T>) => txHost.withTransaction(() => fn(outbox));
  }

  const queues = (table: string) =>
    sql.query<{ queue: string | null; jobs: Array<{ queue: string }> | null }>(
      `SELECT queue, options->'jobs' AS jobs FROM "${table}" ORDER BY id`,
    );

  it('stores the routed queue in each row, and the relayed jobs run there', async () => {
    const inTransaction = await start();
    const routed = await inTransaction((outbox) =>
      outbox.enqueue(SendConfirmation, { orderId: 'o-1' }),
    );
    const vip = await inTransaction((outbox) =>
      outbox.enqueue(SendConfirmation, { orderId: 'vip' }),
    );
    const chosen = await inTransaction((outbox) =>
      outbox.enqueue(SendConfirmation, { orderId: 'vip' }, { queue: 'audit' }),
    );
    const emitted = await inTransaction((outbox) => outbox.emit(OrderCreated, { orderId: 'o-2' }));
    // order.audit names 'audit' itself; order.index has no queue: the '**' glob sends both there.
    expect(emitted.jobs.map((job) => [job.task, job.queue])).toEqual([
      ['order.audit', 'audit'],
      ['order.index', 'audit'],
    ]);
    const stored = await queues(app!.table);
    expect(stored.map((row) => row.queue ?? row.jobs!.map((job) => job.queue))).toEqual([
      'orders',
      'vip',
      'audit',
      ['audit', 'audit'],
    ]);

    const seen = app!.get(Seen);
    await eventually(() => seen.runs.length === 5, 10_000, 'every relayed job to run');
    expect(seen.runs.map((run) => run.jobId).sort()).toEqual(
      [
        routed.jobId,
        vip.jobId,
        chosen.jobId,
        `outbox-${emitted.id}-order.audit`,
        `outbox-${emitted.id}-order.index`,
      ].sort(),
    );
  });

  it('refuses an undeclared queue at the call site, and the transaction writes nothing', async () => {
    const inTransaction = await start();
    const attempt = inTransaction((outbox) =>
      outbox.enqueue(SendConfirmation, { orderId: 'o-3' }, { queue: 'ordres' }),
    );
    await expect(attempt).rejects.toThrow(InvalidTaskOptionsError);
    await expect(attempt).rejects.toThrow(
      /queue 'ordres' was given, which is not declared in TasksModule\.forRoot\(\{ queues \}\); declared: default, audit, orders, vip/,
    );
    expect(await queues(app!.table)).toEqual([]);
  });
});
