import { PGlite } from '@electric-sql/pglite';
import type { TransactionHost } from '@nestjs-cls/transactional';
import { loadDriver } from '../drivers/load-driver';
import { PgliteDriver } from '../drivers/pglite.driver';
import { resolveOutboxOptions } from '../options/module-options';
import { CommitWrites } from '../transactions/commit-writes';
import { OutboxSignals } from '../transactions/outbox-signals';
import type { OutboxTransactionalAdapter } from '../transactions/outbox-transactional.adapter';
import { SqlOutboxStore } from './sql-outbox-store';

const LEASE_MS = 30_000;

describe('SqlOutboxStore: failed rows', () => {
  let db: PGlite;
  let store: SqlOutboxStore;
  let driver: PgliteDriver;

  beforeEach(async () => {
    db = new PGlite();
    await db.waitReady;
    const options = resolveOutboxOptions({ pglite: db, createTable: false });
    driver = await PgliteDriver.create({ instance: db }, loadDriver);
    // Outside Nest there is no CLS context: `tx` stands for the transaction's client.
    const txHost = { tx: db } as unknown as TransactionHost<OutboxTransactionalAdapter>;
    store = new SqlOutboxStore(
      driver,
      txHost,
      new OutboxSignals(driver, options),
      options.table,
      options.tableName,
      new CommitWrites(driver, options),
    );
    await store.ensureSchema();
  });
  afterEach(() => db.close());

  async function insert(names: string[]): Promise<string[]> {
    return store.insert(
      names.map((name) => ({ kind: 'task', name, queue: 'q', payload: {}, options: {} })),
    );
  }

  /** Claims every available row and fails those in `ids` (set aside at `maxAttempts`). */
  async function fail(ids: string[], error: string, maxAttempts?: number): Promise<void> {
    await store.claim(100, LEASE_MS, async (claim) => {
      await claim.recordFailure(ids, error, 60_000, 600_000, maxAttempts);
    });
  }

  it('lists failing and set-aside rows newest first, with attempts, error and next attempt', async () => {
    const [ok, flaky, broken, later] = await insert(['ok', 'flaky', 'broken', 'later']);
    await store.claim(100, LEASE_MS, async (claim) => {
      await claim.markPublished([ok]);
      await claim.recordFailure([flaky], 'Redis said no', 60_000, 600_000, 5);
      await claim.recordFailure([broken], 'MalformedOutboxRowError: no job', 60_000, 600_000, 1);
    });
    const rows = await store.failedRows(10);
    expect(rows.map((r) => r.id)).toEqual([broken, flaky]);
    expect(rows[0]).toEqual({
      id: broken,
      kind: 'task',
      name: 'broken',
      queue: 'q',
      attempts: 1,
      lastError: 'MalformedOutboxRowError: no job',
      createdAt: expect.any(Date),
      nextAttemptAt: null,
      setAside: true,
    });
    expect(rows[1]).toMatchObject({ id: flaky, attempts: 1, setAside: false });
    // Pushed back by the retry delay, on the database's clock.
    expect(rows[1].nextAttemptAt!.getTime()).toBeGreaterThan(rows[1].createdAt.getTime());
    expect((await store.failedRows(1)).map((r) => r.id)).toEqual([broken]);
    // Rows that never failed are not listed; stats agree.
    expect(rows.map((r) => r.id)).not.toContain(later);
    expect(await store.stats()).toMatchObject({ pending: 2, failing: 1, setAside: 1 });
  });

  it('replays set-aside rows only, with fresh attempts, so the relay claims them again', async () => {
    const [first, second, pending] = await insert(['first', 'second', 'pending']);
    await fail([first, second], 'BullMQ refused the job', 1);
    await fail([pending], 'Redis said no', 5);
    expect(await store.stats()).toMatchObject({ setAside: 2 });

    // A pending row, an unknown one and a set-aside one: only the set-aside one changes.
    expect(await store.replaySetAside([pending, '999999', second])).toEqual([second]);
    expect(await store.replaySetAside([second])).toEqual([]);
    expect(await store.stats()).toMatchObject({ setAside: 1, pending: 2 });
    const claimed = await store.claim(100, LEASE_MS, async (claim) => {
      const ids = claim.rows.map((row) => row.id);
      await claim.markPublished(ids);
      return claim.rows;
    });
    expect(claimed).toEqual([expect.objectContaining({ id: second, attempts: 0 })]);
    expect((await store.failedRows(10)).map((r) => r.id)).toEqual([pending, first]);
  });

  it('reads the failing index, not the whole table', async () => {
    await insert(['a', 'b']);
    const query = jest.spyOn(driver.executor, 'query');
    await store.failedRows(20);
    const [sql, params] = query.mock.calls.at(-1)!;
    query.mockRestore();
    // On a table this small the planner would read it all; ask what it does when it must not.
    await db.exec('SET enable_seqscan = off');
    const plan = await db.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${sql}`, params);
    expect(plan.rows.map((r) => r['QUERY PLAN']).join('\n')).toContain(
      'Index Scan Backward using conveyor_outbox_failing_idx',
    );
  });
});
