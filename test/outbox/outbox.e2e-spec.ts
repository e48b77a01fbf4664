import type { PGlite } from '@electric-sql/pglite';
import { TransactionHost } from '@nestjs-cls/transactional';
import {
  NoTransactionError,
  Outbox,
  OUTBOX_STORE,
  OutboxRelay,
  type OutboxStore,
  type OutboxTransactionalAdapter,
} from '@conveyor/outbox';
import { InvalidPayloadError, UnknownTaskError } from '@conveyor/tasks';
import { closeRawQueue, rawQueue } from '../support/redis';
import { eventually } from '../support/tasks-app';
import {
  type Backend,
  openSql,
  type OutboxTestApp,
  postJson,
  type Sql,
  startOutboxApp,
  stopOutboxApps,
} from '../support/outbox-app';
import {
  ORDERS_TABLE,
  OrdersController,
  OrderTasks,
  Seen,
  SendConfirmation,
  Strict,
} from './fixtures';

async function jobCount(prefix: string, queueName: string): Promise<number> {
  const queue = rawQueue(prefix, queueName);
  try {
    const counts = await queue.getJobCounts();
    return Object.values(counts).reduce((a, b) => a + b, 0);
  } finally {
    await closeRawQueue(queue);
  }
}

describe.each<Backend>(['postgres', 'pglite'])('outbox on %s', (backend) => {
  let pglite: PGlite | undefined;
  let sql: Sql;
  let app: OutboxTestApp | undefined;
  let ordersTable: string | undefined;

  beforeAll(async () => {
    if (backend === 'pglite') {
      const { PGlite } = await import('@electric-sql/pglite');
      pglite = new PGlite();
      await pglite.waitReady;
    }
    sql = await openSql(backend, pglite);
  });
  afterAll(async () => {
    await sql.close();
    await pglite?.close();
  });
  afterEach(async () => {
    await stopOutboxApps(sql, app);
    if (ordersTable) await sql.query(`DROP TABLE IF EXISTS "${ordersTable}"`);
    app = ordersTable = undefined;
  });

  async function start(
    options: { relay?: boolean | object; workers?: 'all' | 'none'; writeAtCommit?: boolean } = {},
  ): Promise<OutboxTestApp> {
    const table = `outbox_${Math.random().toString(36).slice(2, 10)}`;
    ordersTable = `${table}_orders`;
    await sql.query(`CREATE TABLE "${ordersTable}" (id text PRIMARY KEY)`);
    app = await startOutboxApp({
      backend,
      pglite,
      table,
      outbox: {
        relay: options.relay ?? { pollInterval: '100ms' },
        ...(options.writeAtCommit === undefined ? {} : { writeAtCommit: options.writeAtCommit }),
      },
      tasks: { workers: options.workers ?? 'all' },
      controllers: [OrdersController],
      providers: [Seen, OrderTasks, { provide: ORDERS_TABLE, useValue: `${table}_orders` }],
    });
    return app;
  }

  const rows = (table: string) =>
    sql.query<{ id: string; kind: string; name: string; published_at: Date | null }>(
      `SELECT id::text AS id, kind, name, published_at FROM "${table}" ORDER BY id`,
    );
  const orders = async (table: string) =>
    (await sql.query<{ id: string }>(`SELECT id FROM "${table}_orders"`)).map((r) => r.id);

  it('runs the task of a committed request, under the job id derived from the row', async () => {
    const { url, table, get } = await start();
    const response = await postJson(`${url}/orders`, { id: 'o-1' });
    expect(response.status).toBe(201);
    await eventually(() => get(Seen).of('confirm').length === 1, 10_000, 'the task to run');
    const [row] = await rows(table);
    expect(get(Seen).runs).toEqual([
      { task: 'confirm', orderId: 'o-1', jobId: `outbox-${row!.id}` },
    ]);
    expect(response.body).toEqual({ jobId: `outbox-${row!.id}` });
    expect(await orders(table)).toEqual(['o-1']);
    await eventually(async () => (await rows(table))[0]!.published_at !== null);
  });

  it('leaves neither the business row nor the event when the handler throws', async () => {
    const { url, table, prefix, get } = await start({ relay: false });
    const response = await postJson(`${url}/orders`, { id: 'o-2', emit: true, fail: true });
    expect(response.status).toBe(400);
    expect(await orders(table)).toEqual([]);
    expect(await rows(table)).toEqual([]);
    expect(await get(OutboxRelay).drain()).toBe(0);
    expect(await jobCount(prefix, 'default')).toBe(0);
    expect(get(Seen).runs).toEqual([]);
  });

  it('joins a transaction that is already open and rolls back with it', async () => {
    const { table, get } = await start({ relay: false });
    const txHost = get<TransactionHost<OutboxTransactionalAdapter>>(TransactionHost);
    const outbox = get(Outbox);
    await expect(
      txHost.withTransaction(async () => {
        await txHost.tx.query(`INSERT INTO "${table}_orders" (id) VALUES ('o-3')`);
        await txHost.withTransaction(() => outbox.enqueue(SendConfirmation, { orderId: 'o-3' }));
        throw new Error('changed my mind');
      }),
    ).rejects.toThrow('changed my mind');
    expect(await orders(table)).toEqual([]);
    expect(await rows(table)).toEqual([]);
  });

  /** Two enqueues in one transaction: what the transaction saw of its rows, and their ids. */
  async function enqueueTwo(app: OutboxTestApp) {
    const txHost = app.get<TransactionHost<OutboxTransactionalAdapter>>(TransactionHost);
    const outbox = app.get(Outbox);
    return txHost.withTransaction(async () => {
      const first = await outbox.enqueue(SendConfirmation, { orderId: 'p-1' });
      // Text that only looks like what jsonb refuses, and a surrogate pair: both fine.
      const second = await outbox.enqueue(SendConfirmation, { orderId: 'p-2 \\u0000 😀' });
      const { rows: seen } = await txHost.tx.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM "${app.table}"`,
      );
      const { rows: prepared } = await txHost.tx.query<{ statement: string }>(
        `SELECT statement FROM pg_prepared_statements WHERE name LIKE 'conveyor_outbox_insert_%'`,
      );
      return {
        ids: [first.id, second.id],
        visibleInTx: seen[0]!.n,
        prepared: prepared.map((s) => s.statement),
      };
    });
  }

  it('sends the rows of a transaction with its COMMIT on PostgreSQL, under the ids enqueue returned', async () => {
    const app = await start({ relay: false });
    const { ids, visibleInTx, prepared } = await enqueueTwo(app);
    expect(BigInt(ids[1]!)).toBeGreaterThan(BigInt(ids[0]!));
    // PostgreSQL: nothing is inserted until the commit. PGlite inserts at the call.
    expect(visibleInTx).toBe(backend === 'postgres' ? 0 : 2);
    expect(prepared).toEqual([]);
    const written = await rows(app.table);
    expect(written.map((r) => r.id)).toEqual(ids);
    expect(written.map((r) => r.name)).toEqual([SendConfirmation.name, SendConfirmation.name]);
    const payloads = await sql.query<{ payload: unknown }>(
      `SELECT payload FROM "${app.table}" ORDER BY id`,
    );
    expect(payloads.map((r) => r.payload)).toEqual([
      { orderId: 'p-1' },
      { orderId: 'p-2 \\u0000 😀' },
    ]);
  });

  it('inserts each row at the call with writeAtCommit: false, one statement prepared per connection on PostgreSQL', async () => {
    const app = await start({ relay: false, writeAtCommit: false });
    const { ids, visibleInTx, prepared } = await enqueueTwo(app);
    expect(BigInt(ids[1]!)).toBeGreaterThan(BigInt(ids[0]!));
    expect(visibleInTx).toBe(2);
    // node-postgres prepares the one-row insert; PGlite takes the plain query.
    if (backend === 'postgres') expect(prepared).toEqual([expect.stringContaining(app.table)]);
    else expect(prepared).toEqual([]);
    expect((await rows(app.table)).map((r) => r.id)).toEqual(ids);
  });

  it('rolls the business row back with the event when the event cannot be written', async () => {
    const { table, get } = await start({ relay: false });
    const txHost = get<TransactionHost<OutboxTransactionalAdapter>>(TransactionHost);
    const outbox = get(Outbox);
    await sql.query(
      `ALTER TABLE "${table}" ADD CONSTRAINT no_confirmations CHECK (name <> '${SendConfirmation.name}')`,
    );
    // On PostgreSQL the INSERT fails with the COMMIT it travels with; on PGlite, at the call.
    await expect(
      txHost.withTransaction(async () => {
        await txHost.tx.query(`INSERT INTO "${table}_orders" (id) VALUES ('o-9')`);
        await outbox.enqueue(SendConfirmation, { orderId: 'o-9' });
      }),
    ).rejects.toThrow(/no_confirmations/);
    expect(await orders(table)).toEqual([]);
    expect(await rows(table)).toEqual([]);
    // The pool connection came back clean: the next transaction commits.
    await sql.query(`ALTER TABLE "${table}" DROP CONSTRAINT no_confirmations`);
    const { ids } = await enqueueTwo(app!);
    expect((await rows(table)).map((r) => r.id)).toEqual(ids);
  });

  it('claims the oldest unpublished rows first, in numeric id order', async () => {
    const { get } = await start({ relay: false });
    const txHost = get<TransactionHost<OutboxTransactionalAdapter>>(TransactionHost);
    const ids = await txHost.withTransaction(async () => {
      const written: string[] = [];
      // Ids 1–12 in a fresh table: sorted as text, '10', '11' and '12' would come before '2'.
      for (let i = 0; i < 12; i++) {
        written.push((await get(Outbox).enqueue(SendConfirmation, { orderId: `c-${i}` })).id);
      }
      return written;
    });
    const claimed = await get<OutboxStore>(OUTBOX_STORE).claim(5, 60_000, async (claim) =>
      claim.rows.map((row) => row.id),
    );
    expect(claimed).toEqual(ids.slice(0, 5));
  });

  it('leases claimed rows in a committed statement, marks each at once, and gives back what a failed claim left', async () => {
    const { table, get } = await start({ relay: false, workers: 'none' });
    const txHost = get<TransactionHost<OutboxTransactionalAdapter>>(TransactionHost);
    await txHost.withTransaction(async () => {
      for (const orderId of ['m-1', 'm-2', 'm-3']) {
        await get(Outbox).enqueue(SendConfirmation, { orderId });
      }
    });
    const store = get<OutboxStore>(OUTBOX_STORE);
    const state = () =>
      sql.query<{ published: boolean; leased: boolean; attempts: number }>(
        `SELECT published_at IS NOT NULL AS published,
                published_at IS NULL AND available_at > now() AS leased, attempts
           FROM "${table}" ORDER BY id`,
      );
    await expect(
      store.claim(10, 60_000, async (claim) => {
        // While work runs: the lease is committed (seen from outside, on PGlite through the
        // one connection, which the claim does not hold) and another claim gets nothing.
        expect(await state()).toEqual([
          { published: false, leased: true, attempts: 0 },
          { published: false, leased: true, attempts: 0 },
          { published: false, leased: true, attempts: 0 },
        ]);
        expect(await store.claim(10, 60_000, async (other) => other.rows.length)).toBe(0);
        await claim.markPublished([claim.rows[0]!.id]);
        throw new Error('failed after marking one');
      }),
    ).rejects.toThrow('failed after marking one');
    // The marked row stays published; the others are available again at once.
    expect(await state()).toEqual([
      { published: true, leased: false, attempts: 0 },
      { published: false, leased: false, attempts: 0 },
      { published: false, leased: false, attempts: 0 },
    ]);
    await store.claim(10, 60_000, async (claim) => {
      const [b, c] = claim.rows.map((row) => row.id);
      await claim.markPublished([b!]);
      await claim.recordFailure([c!], 'refused', 60_000, 60_000);
    });
    expect(await state()).toEqual([
      { published: true, leased: false, attempts: 0 },
      { published: true, leased: false, attempts: 0 },
      { published: false, leased: true, attempts: 1 },
    ]);
  });

  it('lets another claim take rows whose lease ran out, and keeps the first claim off them', async () => {
    const { table, get } = await start({ relay: false, workers: 'none' });
    const txHost = get<TransactionHost<OutboxTransactionalAdapter>>(TransactionHost);
    await txHost.withTransaction(() => get(Outbox).enqueue(SendConfirmation, { orderId: 'l-1' }));
    const store = get<OutboxStore>(OUTBOX_STORE);
    // The first claimer stalls (as a relay that died would) past its 200 ms lease.
    await store.claim(1, 200, async (stalled) => {
      const [id] = stalled.rows.map((row) => row.id);
      expect(id).toEqual(expect.any(String));
      await eventually(
        () =>
          store.claim(1, 60_000, async (next) => {
            if (next.rows.length === 0) return false;
            expect(next.rows.map((row) => row.id)).toEqual([id]);
            // The row is the second claim's now: the first can no longer push it back.
            await stalled.recordFailure([id!], 'too late', 1, 1);
            const [row] = await sql.query<{
              attempts: number;
              last_error: string | null;
              leased: boolean;
            }>(`SELECT attempts, last_error, available_at > now() AS leased FROM "${table}"`);
            expect(row).toEqual({ attempts: 0, last_error: null, leased: true });
            await next.markPublished([id!]);
            return true;
          }),
        10_000,
        'the lease to run out and the row to be claimed again',
      );
    });
    const [row] = await sql.query<{ published: boolean; attempts: number }>(
      `SELECT published_at IS NOT NULL AS published, attempts FROM "${table}"`,
    );
    expect(row).toEqual({ published: true, attempts: 0 });
  });

  it('fans an emitted event out to every subscribed task, one job each', async () => {
    const { url, table, get } = await start();
    expect((await postJson(`${url}/orders`, { id: 'o-4', emit: true })).status).toBe(201);
    const seen = get(Seen);
    await eventually(() => seen.runs.length === 3, 10_000, 'three jobs to run');
    const event = (await rows(table)).find((r) => r.kind === 'event')!;
    expect(event.name).toBe('order.created');
    expect(
      seen.runs.filter((r) => r.task !== 'confirm').sort((a, b) => a.task.localeCompare(b.task)),
    ).toEqual([
      { task: 'audit', orderId: 'o-4', jobId: `outbox-${event.id}-order.audit` },
      { task: 'index', orderId: 'o-4', jobId: `outbox-${event.id}-order.index` },
    ]);
  });

  it('refuses enqueue and emit outside a transaction with NoTransactionError', async () => {
    const { table, get } = await start({ relay: false });
    const outbox = get(Outbox);
    const enqueue = outbox.enqueue(SendConfirmation, { orderId: 'o-5' });
    await expect(enqueue).rejects.toBeInstanceOf(NoTransactionError);
    await expect(enqueue).rejects.toThrow(/OutboxInterceptor/);
    await expect(outbox.emit('order.created', { orderId: 'o-5' })).rejects.toMatchObject({
      name: 'NoTransactionError',
    });
    expect(await rows(table)).toEqual([]);
  });

  it('rejects a bad payload or an unknown task with the producer errors and writes nothing', async () => {
    const { table, get } = await start({ relay: false });
    const txHost = get<TransactionHost<OutboxTransactionalAdapter>>(TransactionHost);
    const outbox = get(Outbox);
    await txHost.withTransaction(async () => {
      await expect(outbox.enqueue(Strict, { orderId: '' })).rejects.toBeInstanceOf(
        InvalidPayloadError,
      );
      await expect(
        outbox.enqueue(SendConfirmation, { orderId: 'x', at: new Date() } as never),
      ).rejects.toBeInstanceOf(InvalidPayloadError);
      await expect(outbox.enqueue('no.such.task', {})).rejects.toBeInstanceOf(UnknownTaskError);
      await expect(outbox.emit('order.created', { orderId: 1n } as never)).rejects.toBeInstanceOf(
        InvalidPayloadError,
      );
      // Redis takes these, jsonb does not: refused at the call, not at the commit.
      for (const [orderId, what] of [
        ['a\u0000b', /NUL/],
        ['a\ud800b', /lone UTF-16 surrogate/],
      ] as const) {
        const attempt = outbox.enqueue(SendConfirmation, { orderId });
        await expect(attempt).rejects.toBeInstanceOf(InvalidPayloadError);
        await expect(attempt).rejects.toThrow(what);
      }
    });
    expect(await rows(table)).toEqual([]);
  });

  it('republishes under the same job id after a relay dies between publish and mark', async () => {
    const { table, prefix, get } = await start({ relay: false, workers: 'none' });
    const txHost = get<TransactionHost<OutboxTransactionalAdapter>>(TransactionHost);
    const { id, jobId } = await txHost.withTransaction(() =>
      get(Outbox).enqueue(SendConfirmation, { orderId: 'o-6' }),
    );
    // The first relay publishes, then dies before its claim transaction commits.
    const { OutboxPublisher } = await import('../../packages/outbox/src/relay/outbox-publisher');
    await expect(
      get<OutboxStore>(OUTBOX_STORE).claim(10, 60_000, async (claim) => {
        await get(OutboxPublisher).publish(claim.rows, 5_000);
        throw new Error('killed before marking');
      }),
    ).rejects.toThrow('killed before marking');
    expect((await rows(table))[0]!.published_at).toBeNull();
    expect(await jobCount(prefix, 'default')).toBe(1);

    expect(await get(OutboxRelay).drain()).toBe(1);
    expect((await rows(table))[0]).toMatchObject({ id, published_at: expect.any(Date) });
    expect(await jobCount(prefix, 'default')).toBe(1);
    const queue = rawQueue(prefix, 'default');
    try {
      expect((await queue.getJobs()).map((job) => job.id)).toEqual([jobId]);
    } finally {
      await closeRawQueue(queue);
    }
  });

  it('records a row that fails to publish and publishes the rows behind it', async () => {
    const { table, prefix, get } = await start({ relay: false, workers: 'none' });
    // A job id BullMQ refuses (':' is reserved), written as a buggy writer might have.
    await sql.query(
      `INSERT INTO "${table}" (kind, name, queue, payload, options)
       VALUES ('task', 'order.send-confirmation', 'default', '{"orderId":"bad"}',
               '{"job":{"task":"order.send-confirmation","queue":"default","opts":{"jobId":"bad:id"}}}')`,
    );
    const txHost = get<TransactionHost<OutboxTransactionalAdapter>>(TransactionHost);
    await txHost.withTransaction(() => get(Outbox).enqueue(SendConfirmation, { orderId: 'ok' }));

    expect(await get(OutboxRelay).drain()).toBe(1);
    const [bad, good] = await sql.query<{
      attempts: number;
      last_error: string | null;
      published_at: Date | null;
      delayed: boolean;
    }>(
      `SELECT attempts, last_error, published_at, available_at > now() AS delayed FROM "${table}" ORDER BY id`,
    );
    expect(bad).toMatchObject({ attempts: 1, published_at: null, delayed: true });
    expect(bad!.last_error).toEqual(expect.any(String));
    expect(good).toMatchObject({ attempts: 0, published_at: expect.any(Date) });
    expect(await jobCount(prefix, 'default')).toBe(1);
    const stats = await get(OutboxRelay).stats();
    expect(stats).toMatchObject({ pending: 1, failing: 1, published: 1 });
  });

  it('reports pending rows and lag, and deletes published rows past retention', async () => {
    const { table, get } = await start({ relay: false, workers: 'none' });
    const txHost = get<TransactionHost<OutboxTransactionalAdapter>>(TransactionHost);
    await txHost.withTransaction(async () => {
      for (const orderId of ['a', 'b', 'c']) {
        await get(Outbox).enqueue(SendConfirmation, { orderId });
      }
    });
    // The lag is the age of the oldest pending row, whichever its id: 'b' waits for an hour.
    await sql.query(
      `UPDATE "${table}" SET created_at = now() - interval '1 hour' WHERE payload->>'orderId' = 'b'`,
    );
    const hour = 3_600_000;
    const relay = get(OutboxRelay);
    const before = await relay.stats();
    expect(before).toMatchObject({ pending: 3, published: 0, failing: 0, running: false });
    expect(before.oldestPendingAgeMs).toBeGreaterThanOrEqual(hour);
    expect(before.oldestPendingAgeMs).toBeLessThan(2 * hour);
    expect(await relay.drain()).toBe(3);
    expect(await relay.stats()).toMatchObject({
      pending: 0,
      oldestPendingAgeMs: 0,
      published: 3,
      publishedByThisProcess: 3,
    });
    const store = get<OutboxStore>(OUTBOX_STORE);
    expect(await store.deletePublished(60_000, 100)).toBe(0);
    expect(await store.deletePublished(0, 2)).toBe(2);
    expect(await store.deletePublished(0, 2)).toBe(1);
    expect(await rows(table)).toEqual([]);
  });
});
