import { Injectable } from '@nestjs/common';
import { TransactionHost } from '@nestjs-cls/transactional';
import { Outbox, type OutboxTransactionalAdapter } from '@conveyor/outbox';
import { defineTask, Task } from '@conveyor/tasks';
import { RESOLVED_TASKS_OPTIONS, type ResolvedModuleOptions } from '@conveyor/tasks/internal';
import { Redis } from 'ioredis';
import { REDIS_URL } from '../support/redis';
import { eventually } from '../support/tasks-app';
import {
  openSql,
  type OutboxTestApp,
  type Sql,
  startOutboxApp,
  stopOutboxApps,
} from '../support/outbox-app';

const Invoice = defineTask<{ orderId: number; customer: { id: string } }, void>('search.invoice', {
  queue: 'invoices',
  searchable: ['orderId', 'customer.id'],
});

@Injectable()
class InvoiceTasks {
  @Task(Invoice)
  invoice(): void {}
}

describe('the search index of jobs the outbox relay publishes (PostgreSQL)', () => {
  let sql: Sql;
  let app: OutboxTestApp | undefined;
  let redis: Redis;

  beforeAll(async () => {
    sql = await openSql('postgres');
    redis = new Redis(REDIS_URL);
  });
  afterAll(async () => {
    await sql.close();
    await redis.quit();
  });
  afterEach(async () => {
    await stopOutboxApps(sql, app);
    app = undefined;
  });

  it('indexes a searchable task written in a transaction once the relay has published it', async () => {
    app = await startOutboxApp({
      backend: 'postgres',
      outbox: { relay: { pollInterval: '50ms' } },
      tasks: { queues: { invoices: {} }, workers: 'none' },
      providers: [InvoiceTasks],
    });
    const txHost = app.get<TransactionHost<OutboxTransactionalAdapter>>(TransactionHost);
    const outbox = app.get(Outbox);
    const { jobId } = await txHost.withTransaction(() =>
      outbox.enqueue(Invoice, { orderId: 42, customer: { id: 'c-9' } }),
    );
    // The row remembers which fields to index, so a relay without the task's code can do it.
    const [row] = await sql.query<{ search: string[] }>(
      `SELECT options->'job'->'search' AS search FROM "${app.table}"`,
    );
    expect(row.search).toEqual(['orderId', 'customer.id']);
    const keys = app.get<ResolvedModuleOptions>(RESOLVED_TASKS_OPTIONS).keys;
    const base = `${keys.queueKey('invoices')}cv:idx`;
    await eventually(
      async () => (await redis.zscore(`${base}:orderId=42`, jobId)) !== null,
      10_000,
      'the relayed job in the index',
    );
    expect(await redis.zrange(`${base}:customer.id=c-9`, 0, -1)).toEqual([jobId]);
  });
});
