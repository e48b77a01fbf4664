import type { PGlite } from '@electric-sql/pglite';
import { TransactionHost } from '@nestjs-cls/transactional';
import { Outbox, OutboxRelay, type OutboxTransactionalAdapter } from '@conveyor/outbox';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { PrivateRedis } from '../support/private-redis';
import { eventually } from '../support/tasks-app';
import {
  openSql,
  type OutboxTestApp,
  postJson,
  type Sql,
  startOutboxApp,
  stopOutboxApps,
} from '../support/outbox-app';
import { ORDERS_TABLE, OrdersController, OrderTasks, Seen, SendConfirmation } from './fixtures';

/** The order ids of the jobs waiting in the private Redis under `prefix`. */
async function waitingOrders(redis: PrivateRedis, prefix: string): Promise<string[]> {
  const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
  const queue = new Queue('default', { connection, prefix: `{${prefix}}` });
  try {
    const jobs = await queue.getJobs(['waiting']);
    return jobs.map((job) => (job.data as { orderId: string }).orderId).sort();
  } finally {
    await queue.close();
    connection.disconnect();
  }
}

/** What `promise` gives, or `undefined` if it has not settled within `ms`. */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Failed relay rounds in a row, or `undefined` if the relay's stats do not answer now. */
async function relayFailures(app: OutboxTestApp): Promise<number | undefined> {
  const stats = await within(app.get(OutboxRelay).stats(), 1_000);
  return stats?.consecutiveFailures;
}

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
      outbox: {
        relay: {
          pollInterval: '50ms',
          retryDelay: '50ms',
          maxBackoff: '200ms',
          publishTimeout: '500ms',
          lease: '1s',
        },
      },
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
    // The relay has tried twice since the commits, and they are all still there.
    const tried = (await relay.stats()).consecutiveFailures;
    await eventually(
      async () => (await relay.stats()).consecutiveFailures >= tried + 2,
      20_000,
      'the relay to try and fail twice more',
    );
    expect(await relay.stats()).toMatchObject({ pending: 3, published: 0 });
    expect((await relay.stats()).lastError).toEqual(expect.any(String));

    await redis.start();
    await eventually(async () => (await relay.stats()).pending === 0, 20_000, 'the backlog');
    expect(await waitingOrders(redis, app.prefix)).toEqual(['a', 'b', 'c']);
    expect(await relay.stats()).toMatchObject({ consecutiveFailures: 0, lastError: null });
  });
});

describe('Redis outage on PGlite (one connection, shared by requests and the relay)', () => {
  let pglite: PGlite;
  let sql: Sql;
  let redis: PrivateRedis;
  let app: OutboxTestApp | undefined;
  const ordersTable = `orders_${Math.random().toString(36).slice(2, 10)}`;

  beforeAll(async () => {
    const { PGlite } = await import('@electric-sql/pglite');
    pglite = new PGlite();
    await pglite.waitReady;
    sql = await openSql('pglite', pglite);
    await sql.query(`CREATE TABLE "${ordersTable}" (id text PRIMARY KEY)`);
    redis = await PrivateRedis.start();
  });
  afterAll(async () => {
    await stopOutboxApps(sql, app);
    await redis.destroy();
    await pglite.close();
  });

  /**
   * Posts an order. If it has not answered once the relay has failed three more rounds (or
   * after 20 s, in case the relay cannot even report), `restore` brings Redis back so that it
   * can. Returns the response and whether Redis was still away when it came.
   */
  async function postWhileRedisAway(id: string, restore: () => Promise<void> | void) {
    let answered = false;
    let restored = false;
    const answer = postJson(`${app!.url}/orders`, { id }).finally(() => (answered = true));
    const rescuer = (async () => {
      const before = (await relayFailures(app!)) ?? 0;
      const deadline = Date.now() + 20_000;
      while (!answered) {
        const now = await relayFailures(app!);
        if ((now !== undefined && now >= before + 3) || Date.now() > deadline) {
          restored = true;
          await restore();
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    })();
    const response = await answer;
    const redisWasAway = !restored;
    await rescuer;
    return { response, redisWasAway };
  }

  it('answers requests that write outbox rows while Redis is down or hung, without waiting on the relay', async () => {
    app = await startOutboxApp({
      backend: 'pglite',
      pglite,
      outbox: {
        relay: {
          pollInterval: '50ms',
          retryDelay: '20ms',
          maxBackoff: '100ms',
          publishTimeout: '500ms',
          lease: '1s',
        },
      },
      tasks: { workers: 'none', connection: redis.url },
      controllers: [OrdersController],
      providers: [Seen, OrderTasks, { provide: ORDERS_TABLE, useValue: ordersTable }],
    });
    const relay = app.get(OutboxRelay);

    // 1. Redis down. A commit wakes the relay, which tries to publish it and fails.
    await redis.stop();
    const txHost = app.get<TransactionHost<OutboxTransactionalAdapter>>(TransactionHost);
    await txHost.withTransaction(() =>
      app!.get(Outbox).enqueue(SendConfirmation, { orderId: 'a' }),
    );
    // (Stats that do not answer mean the relay holds the one connection: go on regardless.)
    await eventually(
      async () => ((await relayFailures(app!)) ?? Infinity) >= 2,
      20_000,
      'the relay to fail twice',
    );
    const down = await postWhileRedisAway('o-1', () => redis.start());
    expect(down.response.status).toBe(201);
    expect(down.redisWasAway).toBe(true);

    if (down.redisWasAway) await redis.start();
    await eventually(async () => (await relay.stats()).pending === 0, 20_000, 'the backlog');
    expect(await waitingOrders(redis, app.prefix)).toEqual(['a', 'o-1']);

    // 2. Redis hangs with the connection up: the relay claims the next row and its addBulk
    // gets no answer. A request in the meantime does not wait for it.
    redis.pause();
    try {
      expect((await postJson(`${app.url}/orders`, { id: 'o-2' })).status).toBe(201);
      await eventually(
        async () => ((await relayFailures(app!)) ?? 1) >= 1,
        20_000,
        'the relay to give up on the hung Redis once',
      );
      const hung = await postWhileRedisAway('o-3', () => redis.resume());
      expect(hung.response.status).toBe(201);
      expect(hung.redisWasAway).toBe(true);
    } finally {
      redis.resume();
    }
    await eventually(async () => (await relay.stats()).pending === 0, 20_000, 'the backlog');
    expect(await waitingOrders(redis, app.prefix)).toEqual(['a', 'o-1', 'o-2', 'o-3']);
  }, 90_000);
});
