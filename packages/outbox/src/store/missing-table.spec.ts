import { PGlite } from '@electric-sql/pglite';
import type { TransactionHost } from '@nestjs-cls/transactional';
import { loadDriver } from '../drivers/load-driver';
import { PgliteDriver } from '../drivers/pglite.driver';
import { OutboxTableMissingError } from '../errors';
import { resolveOutboxOptions } from '../options/module-options';
import { CommitWrites } from '../transactions/commit-writes';
import { OutboxSignals } from '../transactions/outbox-signals';
import type { OutboxTransactionalAdapter } from '../transactions/outbox-transactional.adapter';
import { asMissingTable } from './missing-table';
import { SqlOutboxStore } from './sql-outbox-store';

const SHIPPED_SQL = 'node_modules/@conveyor/outbox/sql/conveyor_outbox.sql';

describe('a missing outbox table', () => {
  let db: PGlite;

  beforeAll(async () => {
    db = new PGlite();
    await db.waitReady;
  });
  afterAll(() => db.close());

  /** The error PostgreSQL (here PGlite) raises for `sql`. */
  const errorOf = (sql: string) =>
    db.query(sql).then(
      () => undefined,
      (error: unknown) => error,
    );

  /** The store over `table`, which this PGlite does not hold, as OutboxModule builds it. */
  async function storeOn(table: string): Promise<SqlOutboxStore> {
    const options = resolveOutboxOptions({ pglite: db, table, createTable: false });
    const driver = await PgliteDriver.create({ instance: db }, loadDriver);
    // Outside Nest there is no CLS context: `tx` stands for the transaction's client.
    const txHost = { tx: db } as unknown as TransactionHost<OutboxTransactionalAdapter>;
    return new SqlOutboxStore(
      driver,
      txHost,
      new OutboxSignals(driver, options),
      options.table,
      options.tableName,
      new CommitWrites(driver, options),
    );
  }

  it('is told apart from other undefined_table errors by the table it names', async () => {
    const missing = await errorOf('SELECT * FROM "app_outbox"');
    expect(missing).toMatchObject({ code: '42P01' });
    const translated = asMissingTable(missing, 'app_outbox');
    expect(translated).toBeInstanceOf(OutboxTableMissingError);
    expect(translated).toMatchObject({ table: 'app_outbox', cause: missing });

    // The same code for a misspelt alias, and for another table: left as they are.
    const alias = await errorOf('SELECT o.id FROM pg_class');
    expect(alias).toMatchObject({ code: '42P01' });
    expect(asMissingTable(alias, 'app_outbox')).toBe(alias);
    const other = await errorOf('SELECT * FROM "orders"');
    expect(asMissingTable(other, 'app_outbox')).toBe(other);
    const notPostgres = new Error('relation "app_outbox" does not exist');
    expect(asMissingTable(notPostgres, 'app_outbox')).toBe(notPostgres);
  });

  it('is recognised in a schema-qualified name, and by its id sequence', async () => {
    const qualified = await errorOf('SELECT * FROM "nowhere"."events"');
    expect(asMissingTable(qualified, 'nowhere.events')).toBeInstanceOf(OutboxTableMissingError);
    const sequence = await errorOf(`SELECT nextval('public.events_id_seq'::regclass)`);
    expect(asMissingTable(sequence, 'events')).toBeInstanceOf(OutboxTableMissingError);
  });

  it('names the default table and both fixes: createTable, or the shipped SQL file', () => {
    const { message, name } = new OutboxTableMissingError('conveyor_outbox');
    expect(name).toBe('OutboxTableMissingError');
    expect(message).toContain('"conveyor_outbox" does not exist');
    expect(message).toContain('OutboxModule.forRoot({ createTable: true })');
    expect(message).toContain(`run ${SHIPPED_SQL}`);
  });

  it('points another table name to createTableSql, since the shipped file holds the default name', () => {
    const { message } = new OutboxTableMissingError('app.outbox');
    expect(message).toContain('"app.outbox" does not exist');
    expect(message).toContain('OutboxModule.forRoot({ createTable: true })');
    expect(message).toContain(`createTableSql("app.outbox")`);
    expect(message).toContain(SHIPPED_SQL);
  });

  it('fails a write, a claim, the stats and retention with OutboxTableMissingError', async () => {
    const store = await storeOn('never_created');
    const write = store.insert([{ kind: 'task', name: 't', queue: 'q', payload: {}, options: {} }]);
    await expect(write).rejects.toBeInstanceOf(OutboxTableMissingError);
    await expect(write).rejects.toMatchObject({
      table: 'never_created',
      cause: expect.objectContaining({ code: '42P01' }),
    });
    const work = jest.fn();
    await expect(store.claim(10, 30_000, work)).rejects.toBeInstanceOf(OutboxTableMissingError);
    expect(work).not.toHaveBeenCalled();
    await expect(store.stats()).rejects.toBeInstanceOf(OutboxTableMissingError);
    await expect(store.deletePublished(1_000, 10)).rejects.toBeInstanceOf(OutboxTableMissingError);
  });

  it('lets the same store work once the table is created, without a new store', async () => {
    const store = await storeOn('created_later');
    await expect(store.stats()).rejects.toBeInstanceOf(OutboxTableMissingError);
    await store.ensureSchema();
    const [id] = await store.insert([
      { kind: 'task', name: 't', queue: 'q', payload: {}, options: {} },
    ]);
    expect(id).toBe('1');
    expect(await store.stats()).toMatchObject({ pending: 1 });
  });
});
