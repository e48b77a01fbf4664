import { TransactionHost } from '@nestjs-cls/transactional';
import { Client } from 'pg';
import { Outbox, OutboxRelay, type OutboxTransactionalAdapter } from '@conveyor/outbox';
import { closeRawQueue, rawQueue, uniquePrefix } from '../support/redis';
import { eventually } from '../support/tasks-app';
import {
  DATABASE_URL,
  openSql,
  type OutboxTestApp,
  type Sql,
  startOutboxApp,
  stopOutboxApps,
  uniqueTable,
} from '../support/outbox-app';
import { OrderTasks, Seen, SendConfirmation } from './fixtures';

describe('relays on PostgreSQL', () => {
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

  async function start(table: string, prefix: string, relay: object | false) {
    const app = await startOutboxApp({
      backend: 'postgres',
      table,
      prefix,
      outbox: { relay },
      tasks: { workers: 'none' },
      providers: [Seen, OrderTasks],
    });
    apps.push(app);
    return app;
  }

  async function commitOrders(app: OutboxTestApp, ids: string[]): Promise<void> {
    const txHost = app.get<TransactionHost<OutboxTransactionalAdapter>>(TransactionHost);
    await txHost.withTransaction(async () => {
      for (const orderId of ids) await app.get(Outbox).enqueue(SendConfirmation, { orderId });
    });
  }

  it('publishes every event exactly once when two relays share one table', async () => {
    const table = uniqueTable();
    const prefix = uniquePrefix();
    const relay = { batchSize: 7, pollInterval: '20ms' };
    const a = await start(table, prefix, relay);
    const b = await start(table, prefix, relay);
    const total = 150;
    await Promise.all(
      Array.from({ length: 15 }, (_, t) =>
        commitOrders(
          t % 2 ? a : b,
          Array.from({ length: total / 15 }, (_, i) => `o-${t}-${i}`),
        ),
      ),
    );
    await eventually(
      async () => (await a.get(OutboxRelay).stats()).pending === 0,
      20_000,
      'the outbox to drain',
    );
    const [statsA, statsB] = await Promise.all([
      a.get(OutboxRelay).stats(),
      b.get(OutboxRelay).stats(),
    ]);
    // A row claimed by both relays would be counted twice here (job-id dedup would hide it in Redis).
    expect(statsA.publishedByThisProcess + statsB.publishedByThisProcess).toBe(total);
    expect(statsA.published).toBe(total);
    const queue = rawQueue(prefix, 'default');
    try {
      const jobs = await queue.getJobs(['waiting']);
      expect(jobs).toHaveLength(total);
      expect(new Set(jobs.map((job) => (job.data as { orderId: string }).orderId)).size).toBe(
        total,
      );
    } finally {
      await closeRawQueue(queue);
    }
  });

  it('wakes a relay in another process with NOTIFY after commit', async () => {
    const table = uniqueTable();
    const prefix = uniquePrefix();
    const writer = await start(table, prefix, false);
    // Polls once an hour: only the notification can make it publish within the test.
    const relay = await start(table, prefix, { pollInterval: '1h' });
    await commitOrders(writer, ['n-1']);
    await eventually(
      async () => (await relay.get(OutboxRelay).stats()).publishedByThisProcess === 1,
      5_000,
      'the notified relay to publish',
    );
  });

  it('sends no NOTIFY while no relay listens, and wakes one that starts listening', async () => {
    const table = uniqueTable();
    const prefix = uniquePrefix();
    const writer = await start(table, prefix, false);
    // A plain LISTEN on the channel is not a relay: it hears only what relays are sent.
    const overhear = new Client({ connectionString: DATABASE_URL });
    await overhear.connect();
    let heard = 0;
    overhear.on('notification', () => heard++);
    try {
      await overhear.query(`LISTEN "${table}_wake"`);
      await commitOrders(writer, ['q-1']);
      await commitOrders(writer, ['q-2']);
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(heard).toBe(0);
      // Polls once an hour: only a NOTIFY can make it publish the commit below in time,
      // although the writer looked for listeners before this relay started.
      const relay = await start(table, prefix, { pollInterval: '1h' });
      await eventually(
        async () => (await relay.get(OutboxRelay).stats()).publishedByThisProcess === 2,
        5_000,
        'the relay to publish what it found at start',
      );
      await commitOrders(writer, ['q-3']);
      await eventually(
        async () => (await relay.get(OutboxRelay).stats()).publishedByThisProcess === 3,
        5_000,
        'the relay to be notified of a commit',
      );
      expect(heard).toBeGreaterThan(0);
    } finally {
      await overhear.end();
    }
  });

  it('does not notify when notify is off (the relay then waits for its poll)', async () => {
    const table = uniqueTable();
    const prefix = uniquePrefix();
    const writer = await startOutboxApp({
      backend: 'postgres',
      table,
      prefix,
      outbox: { relay: false, notify: false },
      tasks: { workers: 'none' },
      providers: [Seen, OrderTasks],
    });
    apps.push(writer);
    const relay = await start(table, prefix, { pollInterval: '1h' });
    await commitOrders(writer, ['n-2']);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await relay.get(OutboxRelay).stats()).pending).toBe(1);
  });

  it('stops cleanly mid-stream: a row is marked published only if its job exists', async () => {
    const table = uniqueTable();
    const prefix = uniquePrefix();
    const writer = await start(table, prefix, false);
    const relay = await start(table, prefix, { batchSize: 5, pollInterval: '10ms' });
    const ids = Array.from({ length: 60 }, (_, i) => `s-${i}`);
    await commitOrders(writer, ids);
    await relay.close(); // while it is working through the backlog
    const published = await sql.query<{ order_id: string }>(
      `SELECT payload->>'orderId' AS order_id FROM "${table}" WHERE published_at IS NOT NULL`,
    );
    const queue = rawQueue(prefix, 'default');
    try {
      const jobs = await queue.getJobs(['waiting']);
      const inRedis = new Set(jobs.map((job) => (job.data as { orderId: string }).orderId));
      for (const { order_id } of published) expect(inRedis.has(order_id)).toBe(true);
      // What the relay did not finish stays pending for the next one.
      expect(await writer.get(OutboxRelay).drain()).toBe(ids.length - published.length);
    } finally {
      await closeRawQueue(queue);
    }
  });
});
