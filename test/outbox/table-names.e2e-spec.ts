import { randomUUID } from 'node:crypto';
import { TransactionHost } from '@nestjs-cls/transactional';
import {
  createTableSql,
  Outbox,
  OutboxRelay,
  type OutboxTransactionalAdapter,
} from '@conveyor/outbox';
import { openSql, type Sql, startOutboxApp } from '../support/outbox-app';
import { deletePrefix } from '../support/redis';
import { OrderTasks, Seen, SendConfirmation } from './fixtures';

/** The indexes PostgreSQL holds on one table, primary key aside, by name. */
async function indexesOf(sql: Sql, schema: string, table: string): Promise<string[]> {
  const rows = await sql.query<{ indexname: string }>(
    `SELECT indexname FROM pg_indexes
      WHERE schemaname = $1 AND tablename = $2 AND indexname NOT LIKE '%_pkey'
      ORDER BY indexname`,
    [schema, table],
  );
  return rows.map((r) => r.indexname);
}

describe('outbox table names on PostgreSQL', () => {
  let sql: Sql;
  let schema: string;

  beforeAll(async () => {
    sql = await openSql('postgres');
  });
  afterAll(() => sql.close());
  beforeEach(async () => {
    // A schema of the test's own, 63 bytes long: the longest name PostgreSQL keeps whole.
    schema = `conveyor_test_${randomUUID().replace(/-/g, '')}`.padEnd(63, 's');
    await sql.query(`CREATE SCHEMA "${schema}"`);
  });
  afterEach(async () => {
    await sql.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  });

  it('creates a table whose name holds a double quote, with all its indexes, twice over', async () => {
    const table = 'order "events"';
    const ddl = createTableSql(`${schema}.${table}`);
    await sql.query(ddl);
    await sql.query(ddl); // idempotent: nothing new, nothing failing
    const [found] = await sql.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = $1 AND table_name = $2`,
      [schema, table],
    );
    expect(found!.n).toBe(1);
    const indexes = await indexesOf(sql, schema, table);
    expect(indexes).toHaveLength(3);
    expect(indexes.some((name) => name.endsWith('_pending_idx'))).toBe(true);
    expect(indexes.some((name) => name.endsWith('_published_idx'))).toBe(true);
    expect(indexes.some((name) => name.endsWith('_failing_idx'))).toBe(true);
  });

  it('gives a 63-byte table in a 63-byte schema three distinct indexes the relay can use', async () => {
    const table = `outbox_${randomUUID().replace(/-/g, '')}`.padEnd(63, 't');
    const start = () =>
      startOutboxApp({
        backend: 'postgres',
        table: `${schema}.${table}`,
        outbox: { relay: false },
        tasks: { workers: 'none' },
        providers: [Seen, OrderTasks],
      });
    const first = await start();
    // A second process boots on the same table: it finds the indexes and adds none.
    const second = await start();
    try {
      const indexes = await indexesOf(sql, schema, table);
      expect(indexes).toHaveLength(3);
      for (const name of indexes) expect(Buffer.byteLength(name)).toBeLessThanOrEqual(63);
      expect(indexes.some((name) => name.endsWith('_pending_idx'))).toBe(true);
      expect(indexes.some((name) => name.endsWith('_published_idx'))).toBe(true);
      expect(indexes.some((name) => name.endsWith('_failing_idx'))).toBe(true);

      const txHost = first.get<TransactionHost<OutboxTransactionalAdapter>>(TransactionHost);
      await txHost.withTransaction(() =>
        first.get(Outbox).enqueue(SendConfirmation, { orderId: 'long-name' }),
      );
      expect(await second.get(OutboxRelay).drain()).toBe(1);
    } finally {
      // The table goes with the schema in afterEach.
      await Promise.all([first.close(), second.close()]);
      await Promise.all([deletePrefix(first.prefix), deletePrefix(second.prefix)]);
    }
  });
});
