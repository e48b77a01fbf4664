import { TransactionHost } from '@nestjs-cls/transactional';
import { Outbox, OutboxRelay, type OutboxTransactionalAdapter } from '@conveyor/outbox';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { PrivateRedis } from '../support/private-redis';
import { eventually } from '../support/tasks-app';
import {
  openSql,
  type OutboxTestApp,
  type Sql,
  startOutboxApp,
  stopOutboxApps,
} from '../support/outbox-app';
import { OrderTasks, Seen, SendConfirmation } from './fixtures';

describe('Redis outage', () => {
  let sql: Sql;
  let redis: PrivateRedis;
  let app: OutboxTestApp | undefined;

  beforeAll(async () => {
    sql = await openSql('postgres');
    redis = await PrivateRedis.start();
  });
  afterAll(async () => {
    await stopOutboxApps(sql, app);
    await redis.destroy();
    await sql.close();
  });

  it('keeps rows committed while Redis is down and publishes them when it returns', async () => {
    app = await startOutboxApp({
      backend: 'postgres',
      outbox: { relay: { pollInterval: '50ms', retryDelay: '50ms', maxBackoff: '200ms' } },
      tasks: { workers: 'none', connection: redis.url },
      providers: [Seen, OrderTasks],
    });
    const txHost = app.get<TransactionHost<OutboxTransactionalAdapter>>(TransactionHost);
    const outbox = app.get(Outbox);
    const relay = app.get(OutboxRelay);

    await redis.stop();
    for (const orderId of ['a', 'b', 'c']) {
      await txHost.withTransaction(() => outbox.enqueue(SendConfirmation, { orderId }));
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect((await relay.stats()).pending).toBe(3);

    await redis.start();
    await eventually(async () => (await relay.stats()).pending === 0, 20_000, 'the backlog');
    const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
    const queue = new Queue('default', { connection, prefix: `{${app.prefix}}` });
    try {
      const jobs = await queue.getJobs(['waiting']);
      expect(jobs.map((job) => (job.data as { orderId: string }).orderId).sort()).toEqual([
        'a',
        'b',
        'c',
      ]);
    } finally {
      await queue.close();
      connection.disconnect();
    }
  });
});
