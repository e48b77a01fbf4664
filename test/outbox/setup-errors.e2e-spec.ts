import type { LoggerService } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { TransactionHost } from '@nestjs-cls/transactional';
import {
  createTableSql,
  Outbox,
  OUTBOX_STORE,
  OutboxModule,
  type OutboxModuleOptions,
  OutboxRelay,
  type OutboxStore,
  OutboxTableMissingError,
  type OutboxTransactionalAdapter,
} from '@conveyor/outbox';
import { TasksModule } from '@conveyor/tasks';
import { DATABASE_URL, openSql, type Sql, uniqueTable } from '../support/outbox-app';
import { deletePrefix, REDIS_URL, uniquePrefix } from '../support/redis';
import { eventually } from '../support/tasks-app';
import { OrderTasks, Seen, SendConfirmation } from './fixtures';

const SHIPPED_SQL = 'node_modules/@conveyor/outbox/sql/conveyor_outbox.sql';
/** A relay that polls and backs off fast, so a test sees many rounds in little time. */
const FAST_RELAY = { pollInterval: '50ms', retryDelay: '50ms', maxBackoff: '100ms' } as const;

/** Keeps what the app logs: level, message, and the fields Conveyor's lines carry. */
class CapturingLogger implements LoggerService {
  readonly lines: Array<{ level: string; message: string; raw: unknown }> = [];
  log = (message: unknown) => this.keep('log', message);
  error = (message: unknown) => this.keep('error', message);
  warn = (message: unknown) => this.keep('warn', message);
  debug = (message: unknown) => this.keep('debug', message);
  verbose = (message: unknown) => this.keep('verbose', message);

  of(level: string, text: string): string[] {
    return this.lines
      .filter((line) => line.level === level && line.message.includes(text))
      .map((line) => line.message);
  }

  /** What a LoggerService other than Nest's receives: `{ msg, ...fields }`. */
  fieldsOf(level: string, text: string): unknown[] {
    return this.lines
      .filter((line) => line.level === level && line.message.includes(text))
      .map((line) => line.raw);
  }

  private keep(level: string, message: unknown): void {
    this.lines.push({ level, message: String(message), raw: message });
  }
}

describe('a missing outbox table on PostgreSQL', () => {
  let sql: Sql;
  let table: string;
  let prefix: string;
  let logger: CapturingLogger;
  let moduleRef: TestingModule | undefined;

  beforeAll(async () => {
    sql = await openSql('postgres');
  });
  afterAll(() => sql.close());
  beforeEach(() => {
    table = uniqueTable();
    prefix = uniquePrefix();
    logger = new CapturingLogger();
  });
  afterEach(async () => {
    await moduleRef?.close();
    moduleRef = undefined;
    await sql.query(`DROP TABLE IF EXISTS "${table}"`);
    await deletePrefix(prefix);
  });

  /** Starts an app on `table`, which does not exist; `createTable` is left at its default. */
  async function boot(outbox: Partial<OutboxModuleOptions>): Promise<TestingModule> {
    const ref = await Test.createTestingModule({
      imports: [
        TasksModule.forRoot({ connection: REDIS_URL, prefix, workers: 'none' }),
        OutboxModule.forRoot({ url: DATABASE_URL, table, ...outbox }),
      ],
      providers: [Seen, OrderTasks],
    }).compile();
    ref.useLogger(logger);
    moduleRef = ref;
    await ref.init();
    return ref;
  }

  const enqueueIn = (ref: TestingModule, orderId: string) =>
    ref
      .get<TransactionHost<OutboxTransactionalAdapter>>(TransactionHost)
      .withTransaction(() => ref.get(Outbox).enqueue(SendConfirmation, { orderId }));

  it('starts, and its relay logs the missing table once, naming it and both fixes', async () => {
    const ref = await boot({ relay: FAST_RELAY });
    const claims = jest.spyOn(ref.get<OutboxStore>(OUTBOX_STORE), 'claim');
    // Many rounds fail on the table while the relay backs off at most 100 ms.
    await eventually(() => claims.mock.calls.length >= 5, 10_000, 'five failed rounds');

    const reports = logger.of('error', `"${table}" does not exist`);
    expect(reports).toHaveLength(1);
    expect(reports[0]).toContain('OutboxModule.forRoot({ createTable: true })');
    expect(reports[0]).toContain(`createTableSql(${JSON.stringify(table)})`);
    expect(reports[0]).toContain(SHIPPED_SQL);
    expect(reports[0]).toContain('without a restart');
    expect(logger.fieldsOf('error', `"${table}" does not exist`)[0]).toMatchObject({
      failedRounds: 1,
      outageMs: 0,
      retryInMs: expect.any(Number),
      error: { name: 'OutboxTableMissingError', message: expect.stringContaining(table) },
    });
    // What a readiness check reads says the same.
    await expect(ref.get(OutboxRelay).stats()).rejects.toBeInstanceOf(OutboxTableMissingError);
  });

  it.each([true, false])(
    'fails Outbox.enqueue in a transaction with OutboxTableMissingError (writeAtCommit: %s)',
    async (writeAtCommit) => {
      const ref = await boot({ writeAtCommit });
      const writing = enqueueIn(ref, 'o-1');
      await expect(writing).rejects.toBeInstanceOf(OutboxTableMissingError);
      const error = (await writing.catch((e: unknown) => e)) as OutboxTableMissingError;
      expect(error.table).toBe(table);
      expect(error.message).toContain(`"${table}" does not exist`);
      expect(error.message).toContain('OutboxModule.forRoot({ createTable: true })');
      expect(error.message).toContain(SHIPPED_SQL);
      expect(error.cause).toMatchObject({ code: '42P01' });
    },
  );

  it('publishes, without a restart, once the table is created', async () => {
    const ref = await boot({ relay: FAST_RELAY });
    await eventually(
      () => logger.of('error', `"${table}" does not exist`).length > 0,
      10_000,
      'the missing table to be reported',
    );
    await expect(enqueueIn(ref, 'before')).rejects.toBeInstanceOf(OutboxTableMissingError);

    await sql.query(createTableSql(table));
    const { id } = await enqueueIn(ref, 'after');
    await eventually(
      async () => {
        const [row] = await sql.query<{ published_at: Date | null }>(
          `SELECT published_at FROM "${table}" WHERE id = $1`,
          [id],
        );
        return row?.published_at;
      },
      10_000,
      'the row to be published',
    );
    expect(logger.of('log', 'publishing again')).toHaveLength(1);
    const [recovered] = logger.fieldsOf('log', 'publishing again') as Array<{
      failedRounds: number;
      outageMs: number;
    }>;
    expect(recovered.failedRounds).toBeGreaterThanOrEqual(1);
    expect(recovered.outageMs).toBeGreaterThan(0);
    expect(await ref.get(OutboxRelay).stats()).toMatchObject({
      pending: 0,
      published: 1,
      consecutiveFailures: 0,
    });
  });
});
