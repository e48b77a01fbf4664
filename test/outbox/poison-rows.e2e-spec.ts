import { randomUUID } from 'node:crypto';
import type { PGlite } from '@electric-sql/pglite';
import { TransactionHost } from '@nestjs-cls/transactional';
import {
  createTableSql,
  Outbox,
  OutboxRelay,
  type OutboxTransactionalAdapter,
} from '@conveyor/outbox';
import { closeRawQueue, rawQueue } from '../support/redis';
import { eventually } from '../support/tasks-app';
import {
  type Backend,
  openSql,
  type OutboxTestApp,
  type Sql,
  startOutboxApp,
  stopOutboxApps,
} from '../support/outbox-app';
import { OrderTasks, Seen, SendConfirmation } from './fixtures';

/** The relay's default `maxAttempts`: failures of a row's own before it is set aside. */
const MAX_ATTEMPTS = 10;

/** The options column of a task row as `Outbox.enqueue` writes it, with `opts` of our own. */
const taskOptions = (opts: Record<string, unknown>) =>
  JSON.stringify({ job: { task: SendConfirmation.name, queue: 'default', opts } });

interface BadRow {
  kind: string;
  payload: string;
  options: string;
}

const badTask = (options: string, payload = '{"orderId":"bad"}'): BadRow => ({
  kind: 'task',
  payload,
  options,
});

/** Rows a buggy writer, a hand-made migration or an older version might leave in the table. */
const malformed: Array<[string, BadRow, RegExp]> = [
  ['a task row whose options lack job', badTask('{}'), /options\.job is missing/],
  ['a task row whose options are JSON null', badTask('null'), /options is null/],
  [
    'an event row whose options lack jobs',
    { kind: 'event', payload: '{"orderId":"bad"}', options: '{}' },
    /options\.jobs is missing/,
  ],
  [
    'an event row whose jobs is not a list',
    { kind: 'event', payload: '{"orderId":"bad"}', options: '{"jobs":{"a":1}}' },
    /options\.jobs is an object, not a list/,
  ],
  [
    'a job without a queue',
    badTask(JSON.stringify({ job: { task: SendConfirmation.name, opts: {} } })),
    /options\.job\.queue is missing/,
  ],
  [
    'a payload that is not JSON-safe (a number past the range of a double)',
    badTask(taskOptions({}), '{"orderId": 1e400}'),
    /payload\.orderId is Infinity/,
  ],
  [
    'an unknown kind (a table made without the CHECK on kind)',
    { kind: 'command', payload: '{"orderId":"bad"}', options: taskOptions({}) },
    /kind is "command"/,
  ],
];

/** Rows whose shape is right but whose job options BullMQ refuses. */
const refused: Array<[string, BadRow, RegExp]> = [
  [
    'a fractional priority',
    badTask(taskOptions({ priority: 1.5 })),
    /Priority should not be float/,
  ],
  [
    'a job id that is a plain integer',
    badTask(taskOptions({ jobId: '123' })),
    /Custom Id cannot be integers/,
  ],
];

describe.each<Backend>(['postgres', 'pglite'])(
  'rows the relay cannot publish, on %s',
  (backend) => {
    let pglite: PGlite | undefined;
    let sql: Sql;
    let app: OutboxTestApp | undefined;
    let schema: string | undefined;

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
      if (schema) await sql.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      app = schema = undefined;
    });

    /**
     * An app whose relay runs, with fast retries, on a table in a schema of this test's own;
     * `withoutKindCheck`: the table as a migration without the CHECK on `kind` made it.
     */
    async function start(withoutKindCheck = false): Promise<{ app: OutboxTestApp; table: string }> {
      schema = `poison_${randomUUID().slice(0, 8)}`;
      await sql.query(`CREATE SCHEMA "${schema}"`);
      if (withoutKindCheck) {
        for (const statement of createTableSql(`${schema}.outbox`).split(';\n')) {
          if (statement.trim()) await sql.query(statement);
        }
        await sql.query(`ALTER TABLE "${schema}"."outbox" DROP CONSTRAINT outbox_kind_check`);
      }
      app = await startOutboxApp({
        backend,
        pglite,
        table: `${schema}.outbox`,
        outbox: {
          // Rows inserted at each call, so the bad row's id falls between the good ones'.
          writeAtCommit: false,
          relay: { pollInterval: '50ms', retryDelay: '10ms', maxBackoff: '40ms' },
        },
        tasks: { workers: 'none' },
        providers: [Seen, OrderTasks],
      });
      return { app, table: `"${schema}"."outbox"` };
    }

    /** Commits a good row, the bad row (by hand), and a good row, in one transaction. */
    async function goodBadGood(
      started: OutboxTestApp,
      table: string,
      bad: BadRow,
    ): Promise<{ good: string[]; bad: string }> {
      const txHost = started.get<TransactionHost<OutboxTransactionalAdapter>>(TransactionHost);
      const outbox = started.get(Outbox);
      return txHost.withTransaction(async () => {
        const first = await outbox.enqueue(SendConfirmation, { orderId: 'before' });
        const { rows } = await txHost.tx.query<{ id: string }>(
          `INSERT INTO ${table} (kind, name, queue, payload, options)
         VALUES ($1, $2, $3, $4::jsonb, $5::jsonb) RETURNING id::text AS id`,
          [bad.kind, SendConfirmation.name, 'default', bad.payload, bad.options],
        );
        const last = await outbox.enqueue(SendConfirmation, { orderId: 'after' });
        return { good: [first.id, last.id], bad: rows[0]!.id };
      });
    }

    const row = async (table: string, id: string) =>
      (
        await sql.query<{
          attempts: number;
          last_error: string | null;
          published: boolean;
          set_aside: boolean;
        }>(
          `SELECT attempts, last_error, published_at IS NOT NULL AS published,
                available_at = 'infinity' AS set_aside
           FROM ${table} WHERE id = $1`,
          [id],
        )
      )[0]!;

    async function jobIds(prefix: string): Promise<string[]> {
      const queue = rawQueue(prefix, 'default');
      try {
        return (await queue.getJobs()).map((job) => job.id!).sort();
      } finally {
        await closeRawQueue(queue);
      }
    }

    /**
     * The relay publishes the rows around the bad one, records the bad one's problem on it
     * attempt after attempt, and sets it aside after its last: no longer claimed, out of the
     * pending count and the lag, counted as set aside.
     */
    async function expectIsolated(bad: BadRow, problem: RegExp) {
      const { app: started, table } = await start(bad.kind !== 'task' && bad.kind !== 'event');
      const ids = await goodBadGood(started, table, bad);
      const relay = started.get(OutboxRelay);

      await eventually(
        async () => (await row(table, ids.good[1]!)).published,
        10_000,
        'the good row behind the bad one to be published',
      );
      expect(await row(table, ids.good[0]!)).toMatchObject({ published: true, attempts: 0 });
      await eventually(
        async () => {
          const bad = await row(table, ids.bad);
          if (bad.published) throw new Error('the bad row was marked published');
          return bad.set_aside;
        },
        10_000,
        `the bad row to be set aside after ${MAX_ATTEMPTS} attempts`,
      );
      const setAside = await row(table, ids.bad);
      expect(setAside).toMatchObject({ published: false, attempts: MAX_ATTEMPTS });
      expect(setAside.last_error).toMatch(problem);
      expect(await jobIds(started.prefix)).toEqual(ids.good.map((id) => `outbox-${id}`).sort());
      expect(await relay.stats()).toMatchObject({
        pending: 0,
        oldestPendingAgeMs: 0,
        failing: 0,
        setAside: 1,
        published: 2,
        consecutiveFailures: 0,
      });

      // Not retried for ever: a later row goes through while the set-aside one stays put.
      const txHost = started.get<TransactionHost<OutboxTransactionalAdapter>>(TransactionHost);
      const later = await txHost.withTransaction(() =>
        started.get(Outbox).enqueue(SendConfirmation, { orderId: 'later' }),
      );
      await eventually(async () => (await row(table, later.id)).published, 10_000, 'a later row');
      expect(await row(table, ids.bad)).toMatchObject({
        published: false,
        set_aside: true,
        attempts: MAX_ATTEMPTS,
      });
      return { started, table, ids };
    }

    it.each(malformed)(
      'publishes the rows around %s, and records and sets aside that row alone',
      async (_, bad, problem) => {
        await expectIsolated(bad, problem);
      },
    );

    it.each(refused)(
      'publishes the rows around a row whose job BullMQ refuses (%s), and sets that row aside',
      async (_, bad, problem) => {
        await expectIsolated(bad, problem);
      },
    );

    it('publishes a set-aside row once an operator fixes it and makes it available again', async () => {
      const { started, table, ids } = await expectIsolated(
        malformed[0]![1],
        /options\.job is missing/,
      );
      // What the README tells an operator to run.
      await sql.query(
        `UPDATE ${table} SET options = $2::jsonb, available_at = now(), attempts = 0
        WHERE id = $1 AND published_at IS NULL AND available_at = 'infinity'`,
        [ids.bad, taskOptions({})],
      );
      await eventually(async () => (await row(table, ids.bad)).published, 10_000, 'the replay');
      expect(await row(table, ids.bad)).toMatchObject({ last_error: null, set_aside: false });
      expect(await jobIds(started.prefix)).toContain(`outbox-${ids.bad}`);
      expect(await started.get(OutboxRelay).stats()).toMatchObject({ setAside: 0, pending: 0 });
    });
  },
);
