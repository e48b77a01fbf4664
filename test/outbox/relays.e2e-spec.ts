import { TransactionHost } from '@nestjs-cls/transactional';
import { Client } from 'pg';
import { Outbox, OutboxRelay, type OutboxTransactionalAdapter } from '@conveyor/outbox';
import { TaskInstrumentation } from '@conveyor/tasks';
import { OutboxSignals } from '../../packages/outbox/src/transactions/outbox-signals';
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

  /**
   * A plain LISTEN on the relays' wake channel and on a marker channel of its own. A NOTIFY
   * sent on the marker after the writer has gone quiet arrives after any wake-up the writer
   * sent (PostgreSQL delivers notifications in commit order), so once the marker is in, the
   * wake-ups heard are all there will be: no sleep needed to show that none came.
   */
  async function overhear(table: string) {
    const client = new Client({ connectionString: DATABASE_URL });
    await client.connect();
    const heard = { wake: 0, marker: 0 };
    client.on('notification', (message) => {
      if (message.channel === `${table}_wake`) heard.wake++;
      else heard.marker++;
    });
    await client.query(`LISTEN "${table}_wake"`);
    await client.query(`LISTEN "${table}_marker"`);
    return {
      heard,
      /** Wake-ups heard once everything `writer` meant to send has been delivered. */
      async settledWakeups(writer: OutboxTestApp): Promise<number> {
        await writer.get(OutboxSignals).idle();
        const markers = heard.marker;
        await sql.query(`NOTIFY "${table}_marker"`);
        await eventually(() => heard.marker > markers, 5_000, 'the marker notification');
        return heard.wake;
      },
      close: () => client.end(),
    };
  }

  it('sends no NOTIFY while no relay listens, and wakes one that starts listening', async () => {
    const table = uniqueTable();
    const prefix = uniquePrefix();
    const writer = await start(table, prefix, false);
    // A plain LISTEN on the channel is not a relay: it hears only what relays are sent.
    const listener = await overhear(table);
    try {
      await commitOrders(writer, ['q-1']);
      await commitOrders(writer, ['q-2']);
      expect(await listener.settledWakeups(writer)).toBe(0);
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
      expect(listener.heard.wake).toBeGreaterThan(0);
    } finally {
      await listener.close();
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
    const listener = await overhear(table);
    try {
      await commitOrders(writer, ['n-2']);
      // A relay listens, yet the writer sent no wake-up: the row waits for the next poll.
      expect(await listener.settledWakeups(writer)).toBe(0);
      expect(await relay.get(OutboxRelay).stats()).toMatchObject({
        pending: 1,
        publishedByThisProcess: 0,
      });
    } finally {
      await listener.close();
    }
  });

  it('stops mid-stream after the batch in flight: its rows marked, their jobs in Redis, the rest left for the next relay', async () => {
    const table = uniqueTable();
    const prefix = uniquePrefix();
    const writer = await start(table, prefix, false);
    const relay = await start(table, prefix, { batchSize: 5, pollInterval: '1h' });
    const ids = Array.from({ length: 60 }, (_, i) => `s-${i}`);
    // Stop the relay the moment Redis has accepted its first batch's jobs, before it marks
    // them: shutdown then finds a batch in flight, whatever the machine's speed.
    const stopper = relay.get(OutboxRelay);
    let stopping: Promise<void> | undefined;
    relay.get(TaskInstrumentation).observe({
      enqueued: () => {
        stopping ??= stopper.beforeApplicationShutdown();
      },
    });
    await commitOrders(writer, ids); // the commit's NOTIFY wakes the relay
    await eventually(() => stopping !== undefined, 10_000, 'the relay to send its first batch');
    await stopping;
    await relay.close();

    const published = await sql.query<{ order_id: string }>(
      `SELECT payload->>'orderId' AS order_id FROM "${table}"
        WHERE published_at IS NOT NULL ORDER BY id`,
    );
    const leased = await sql.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM "${table}" WHERE published_at IS NULL AND available_at > now()`,
    );
    const queue = rawQueue(prefix, 'default');
    try {
      const inRedis = (await queue.getJobs(['waiting']))
        .map((job) => (job.data as { orderId: string }).orderId)
        .sort();
      // The batch in flight was finished (marked), and no batch was started after the stop.
      expect(published.map((r) => r.order_id)).toEqual(ids.slice(0, 5));
      expect(inRedis).toEqual([...ids.slice(0, 5)].sort());
      // Nothing is left leased to the stopped relay: the next one takes the rest at once.
      expect(leased[0]!.n).toBe(0);
      expect(await writer.get(OutboxRelay).drain()).toBe(ids.length - 5);
      expect(await queue.count()).toBe(ids.length);
    } finally {
      await closeRawQueue(queue);
    }
  });
});
