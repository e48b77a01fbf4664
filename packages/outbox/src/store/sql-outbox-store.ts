import { createHash } from 'node:crypto';
import type { TransactionHost } from '@nestjs-cls/transactional';
import { InvalidPayloadError } from '@conveyor/tasks';
import type { OutboxDriver, OutboxTx } from '../drivers/outbox-driver.interface';
import type { OutboxTransactionalAdapter } from '../transactions/outbox-transactional.adapter';
import type { CommitWrites } from '../transactions/commit-writes';
import type { OutboxSignals } from '../transactions/outbox-signals';
import type {
  NewOutboxRow,
  OutboxClaim,
  OutboxFailure,
  OutboxRow,
  OutboxStats,
  OutboxStore,
} from './outbox-store.interface';
import { asMissingTable } from './missing-table';
import { createTableStatements } from './sql';

interface RowRecord {
  id: string;
  kind: 'task' | 'event';
  name: string;
  queue: string | null;
  payload: unknown;
  options: NewOutboxRow['options'];
  trace: Record<string, string> | null;
  attempts: number;
}

const COLUMNS = 6;
/** Ids drawn from the table's sequence at a time for rows written at commit. */
const ID_BLOCK = 100;
/**
 * What `jsonb` refuses in JSON text that `JSON.stringify` writes: `\u0000`, and a lone
 * surrogate (written as `\udXXX`; a pair is written as the character itself). Preceded by
 * an even number of backslashes, so `\\u0000` (an escaped backslash, then text) is not one.
 */
const JSONB_REFUSES = /(?<!\\)(?:\\\\)*\\u(?:0000|d[89a-f][0-9a-f]{2})/i;

interface AnyQueryable {
  query(sql: string, params?: unknown[]): Promise<unknown>;
}

/**
 * `OutboxStore` in plain PostgreSQL SQL, over `pg` or PGlite. JSON goes in as text cast to
 * jsonb (`pg` would turn a top-level array into a PostgreSQL array), ids come back as text
 * (bigint does not fit a JS number in general), and id lists travel as one text parameter,
 * which both drivers pass the same way.
 */
export class SqlOutboxStore implements OutboxStore {
  private insertStatementName?: string;
  /** The id sequence of the table, as a literal (`null`: it has none; `undefined`: not looked). */
  private sequence?: string | null;
  /** Ids drawn ahead for rows written at commit, ascending. */
  private readonly freeIds: bigint[] = [];

  constructor(
    private readonly driver: OutboxDriver,
    private readonly txHost: TransactionHost<OutboxTransactionalAdapter>,
    private readonly signals: OutboxSignals,
    /** Quoted table name. */
    private readonly table: string,
    /** Unquoted name, for the DDL's derived index names. */
    private readonly tableName: string,
    /** Where rows go when they are written with the commit (`writeAtCommit`). */
    private readonly writes: CommitWrites,
  ) {}

  /** The one-row insert's prepared statement: named after the table, within 63 bytes. */
  private get insertStatement(): string {
    return (this.insertStatementName ??= `conveyor_outbox_insert_${createHash('sha1')
      .update(this.table)
      .digest('hex')
      .slice(0, 16)}`);
  }

  /** An autocommit statement; a table that is not there rejects as `OutboxTableMissingError`. */
  private query<R>(sql: string, params?: unknown[]): Promise<{ rows: R[] }> {
    return this.driver.executor.query<R>(sql, params).catch((error: unknown) => {
      throw asMissingTable(error, this.tableName);
    });
  }

  async ensureSchema(): Promise<void> {
    await this.driver.withSchemaLock(async (tx) => {
      for (const statement of createTableStatements(this.tableName)) {
        await tx.query(statement);
      }
    });
  }

  inTransaction(): boolean {
    return this.txHost.isTransactionActive();
  }

  async insert(rows: readonly NewOutboxRow[]): Promise<string[]> {
    if (rows.length === 0) return [];
    const tx = this.txHost.tx;
    const texts = rows.map(columnTexts);
    try {
      if (this.writes.accepts(tx) && (await this.sequenceOf(tx)) !== null) {
        return await this.insertAtCommit(tx, texts);
      }
      return await this.insertNow(tx, texts);
    } catch (error) {
      throw asMissingTable(error, this.tableName);
    }
  }

  /** Rows inserted at once, in one statement (prepared for the usual single row). */
  private async insertNow(tx: OutboxTx, texts: ColumnTexts[]): Promise<string[]> {
    const params: unknown[] = [];
    const values = texts.map((columns, i) => {
      params.push(...columns);
      const n = i * COLUMNS;
      return `($${n + 1}, $${n + 2}, $${n + 3}, $${n + 4}::text::jsonb, $${n + 5}::text::jsonb, $${n + 6}::text::jsonb)`;
    });
    const sql = `INSERT INTO ${this.table} (kind, name, queue, payload, options, trace) VALUES ${values.join(', ')} RETURNING id::text AS id`;
    // The usual one-row insert runs prepared where it can: parsing and planning it was
    // about a third of its time in the business transaction.
    const prepared =
      texts.length === 1
        ? this.driver.prepared?.(tx, this.insertStatement, sql, params)
        : undefined;
    // The app's own transaction host (TypeORM's EntityManager) answers with the rows array
    // where pg and PGlite answer with { rows }.
    const result: unknown = await (prepared ?? (tx as AnyQueryable).query(sql, params));
    const ids = (Array.isArray(result) ? result : (result as { rows: unknown[] }).rows) as {
      id: string;
    }[];
    this.signals.markWritten(tx);
    return ids.map((r) => r.id);
  }

  /**
   * Rows of a transaction our adapter opened on `pg`: their ids now (from the sequence,
   * drawn ahead), their INSERT with the COMMIT, one statement for all of the transaction's.
   */
  private async insertAtCommit(tx: OutboxTx, texts: ColumnTexts[]): Promise<string[]> {
    const ids = await this.takeIds(tx, texts.length);
    const literal = (text: string | null) => (text === null ? 'NULL' : this.driver.literal!(text));
    const tuples = this.writes.rows(
      tx,
      (all) =>
        `INSERT INTO ${this.table} (id, kind, name, queue, payload, options, trace) ` +
        `OVERRIDING SYSTEM VALUE VALUES ${all.join(', ')}`,
    );
    texts.forEach(([kind, name, queue, payload, options, trace], i) => {
      tuples.push(
        `(${ids[i]}, ${literal(kind)}, ${literal(name)}, ${literal(queue)}, ` +
          `${literal(payload)}::jsonb, ${literal(options)}::jsonb, ${literal(trace)}::jsonb)`,
      );
    });
    this.signals.markWritten(tx);
    return ids.map(String);
  }

  /** `count` ids from the sequence, ascending; a block is drawn on `tx` when too few are left. */
  private async takeIds(tx: OutboxTx, count: number): Promise<bigint[]> {
    if (this.freeIds.length < count) {
      // nextval is not transactional: ids drawn here stay taken if `tx` rolls back, as ids
      // taken by an INSERT do. Drawn on `tx` itself, never on another pool connection,
      // which a full pool of open transactions would wait on for ever.
      const { rows } = await tx.query<{ id: string }>(
        `SELECT nextval(${this.sequence}::regclass)::text AS id FROM generate_series(1, $1::int)`,
        [Math.max(count, ID_BLOCK)],
      );
      this.freeIds.push(...rows.map((r) => BigInt(r.id)));
      // Two transactions may draw blocks at once; ids are handed out in order regardless.
      this.freeIds.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    }
    return this.freeIds.splice(0, count);
  }

  /** The literal of the table's id sequence, looked up once; `null` if it has none. */
  private async sequenceOf(tx: OutboxTx): Promise<string | null> {
    if (this.sequence === undefined) {
      const { rows } = await tx.query<{ seq: string | null }>(
        `SELECT pg_get_serial_sequence($1, 'id') AS seq`,
        [this.table],
      );
      const seq = rows[0]?.seq ?? null;
      this.sequence = seq === null ? null : this.driver.literal!(seq);
    }
    return this.sequence;
  }

  async claim<T>(
    limit: number,
    leaseMs: number,
    work: (claim: OutboxClaim) => Promise<T>,
  ): Promise<T> {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`bad claim limit ${limit}`);
    if (!(leaseMs > 0)) throw new RangeError(`bad claim lease ${leaseMs}`);
    // One statement, so one short transaction of its own: the rows are leased (available_at
    // pushed past the lease) and the lease is committed before anything goes to Redis. A
    // relay that dies after this leaves them leased until the lease runs out, then any relay
    // claims them again; nothing holds a lock, a transaction or a connection meanwhile.
    // `FOR UPDATE SKIP LOCKED` keeps two claims at the same moment off each other's rows, and
    // a claim that finds a row just leased by another re-reads it (its available_at has
    // moved) and leaves it. ORDER BY the column (o.id), not id::text: sorting by the text put
    // '10' before '9' and could not use the pending index.
    const { rows } = await this.query<RowRecord & { lease: string }>(
      `WITH picked AS MATERIALIZED (
         SELECT o.id FROM ${this.table} o
          WHERE o.published_at IS NULL AND o.available_at <= now()
          ORDER BY o.id
          LIMIT $1
          FOR UPDATE SKIP LOCKED)
       UPDATE ${this.table} o
          SET available_at = now() + make_interval(secs => $2::float8 / 1000)
         FROM picked
        WHERE o.id = picked.id
       RETURNING o.id::text AS id, o.kind, o.name, o.queue, o.payload, o.options, o.trace,
                 o.attempts, (o.available_at AT TIME ZONE 'UTC')::text AS lease`,
      [limit, leaseMs],
    );
    // RETURNING follows no order; the relay publishes in id order.
    rows.sort((a, b) => compareIds(a.id, b.id));
    const claim = new SqlClaim(this.driver.executor, this.table, rows.map(toRow), rows[0]?.lease);
    try {
      return await work(claim);
    } finally {
      // What work left (it threw) goes back at once rather than at the end of the lease. If
      // the database is away this fails too, and the lease gives the rows back later.
      await claim.giveBack().catch(() => undefined);
    }
  }

  async deletePublished(olderThanMs: number, limit: number): Promise<number> {
    const { rows } = await this.query<{ n: number }>(
      `WITH gone AS (
         DELETE FROM ${this.table} WHERE id IN (
           SELECT id FROM ${this.table}
            WHERE published_at IS NOT NULL AND published_at < now() - make_interval(secs => $1::float8 / 1000)
            ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED)
         RETURNING 1)
       SELECT count(*)::int AS n FROM gone`,
      [olderThanMs, limit],
    );
    return rows[0]?.n ?? 0;
  }

  async stats(): Promise<OutboxStats> {
    // Set-aside rows wait for an operator, not for the relay: they are counted apart, and
    // neither the pending count nor the lag includes them.
    const { rows } = await this.query<{
      pending: number;
      lag_ms: number | null;
      failing: number;
      set_aside: number;
      published: number;
    }>(
      `SELECT count(*) FILTER (WHERE waiting)::int AS pending,
              (EXTRACT(EPOCH FROM now() - min(created_at) FILTER (WHERE waiting)) * 1000)::float8 AS lag_ms,
              count(*) FILTER (WHERE waiting AND attempts > 0)::int AS failing,
              count(*) FILTER (WHERE published_at IS NULL AND NOT waiting)::int AS set_aside,
              count(*) FILTER (WHERE published_at IS NOT NULL)::int AS published
         FROM (SELECT created_at, published_at, attempts,
                      published_at IS NULL AND available_at <> 'infinity' AS waiting
                 FROM ${this.table}) o`,
    );
    const r = rows[0]!;
    return {
      pending: r.pending,
      oldestPendingAgeMs: Math.max(0, Math.round(r.lag_ms ?? 0)),
      failing: r.failing,
      setAside: r.set_aside,
      published: r.published,
    };
  }

  async failedRows(limit: number): Promise<OutboxFailure[]> {
    if (!Number.isInteger(limit) || limit < 1)
      throw new RangeError(`bad failedRows limit ${limit}`);
    // The failing index (unpublished rows with attempts > 0, by id) answers this with `limit`
    // entries read; a table created without it reads the pending index backwards instead.
    // ORDER BY the column (o.id), not the id::text output, or no index can give the order.
    const { rows } = await this.query<FailureRecord>(
      `SELECT o.id::text AS id, o.kind, o.name, o.queue, o.attempts, o.last_error,
              (EXTRACT(EPOCH FROM o.created_at) * 1000)::float8 AS created_ms,
              CASE WHEN o.available_at = 'infinity' THEN NULL
                   ELSE (EXTRACT(EPOCH FROM o.available_at) * 1000)::float8 END AS next_ms
         FROM ${this.table} o
        WHERE o.published_at IS NULL AND o.attempts > 0
        ORDER BY o.id DESC
        LIMIT $1`,
      [limit],
    );
    return rows.map((r) => ({
      id: r.id,
      kind: r.kind,
      name: r.name,
      queue: r.queue,
      attempts: r.attempts,
      lastError: r.last_error,
      createdAt: new Date(r.created_ms),
      nextAttemptAt: r.next_ms === null ? null : new Date(r.next_ms),
      setAside: r.next_ms === null,
    }));
  }

  async replaySetAside(ids: readonly string[]): Promise<string[]> {
    if (ids.length === 0) return [];
    const { rows } = await this.query<{ id: string }>(
      `UPDATE ${this.table} SET available_at = now(), attempts = 0
        WHERE id IN (SELECT unnest(string_to_array($1::text, ','))::bigint)
          AND published_at IS NULL
          AND available_at = 'infinity'
       RETURNING id::text AS id`,
      [ids.join(',')],
    );
    return rows.map((r) => r.id).sort(compareIds);
  }
}

interface FailureRecord {
  id: string;
  kind: 'task' | 'event';
  name: string;
  queue: string | null;
  attempts: number;
  last_error: string | null;
  created_ms: number;
  next_ms: number | null;
}

/**
 * A claim's rows, changed by statements of their own outside any transaction. The lease's end
 * (the `available_at` the claim wrote, the same for all its rows) tells whether a row is still
 * this claim's: once its lease ran out and another relay claimed it, it has another.
 */
class SqlClaim implements OutboxClaim {
  /** Rows neither marked nor recorded as failed yet. */
  private readonly held: Set<string>;

  constructor(
    private readonly executor: OutboxTx,
    private readonly table: string,
    readonly rows: readonly OutboxRow[],
    /** The lease's end, UTC, as PostgreSQL wrote it (microseconds, so it reads back exactly). */
    private readonly lease: string | undefined,
  ) {
    this.held = new Set(rows.map((row) => row.id));
  }

  async markPublished(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.executor.query(
      `UPDATE ${this.table} SET published_at = now(), last_error = NULL
        WHERE id IN (SELECT unnest(string_to_array($1::text, ','))::bigint)
          AND published_at IS NULL`,
      [ids.join(',')],
    );
    for (const id of ids) this.held.delete(id);
  }

  async recordFailure(
    ids: readonly string[],
    error: string,
    retryDelayMs: number,
    maxDelayMs: number,
    maxAttempts?: number,
  ): Promise<void> {
    if (ids.length === 0) return;
    // Set aside: available_at 'infinity', which no claim reaches (`available_at <= now()`).
    // A NULL maxAttempts compares to nothing, so the row is only pushed back.
    await this.executor.query(
      `UPDATE ${this.table}
          SET attempts = attempts + 1,
              last_error = left($2::text, 2000),
              available_at = CASE
                WHEN attempts + 1 >= $6::int THEN 'infinity'::timestamptz
                ELSE now() + make_interval(secs => least($3::float8 * power(2, least(attempts, 30)), $4::float8) / 1000)
              END
        WHERE id IN (SELECT unnest(string_to_array($1::text, ','))::bigint)
          AND published_at IS NULL
          AND available_at = ($5::timestamp AT TIME ZONE 'UTC')`,
      [ids.join(','), error, retryDelayMs, maxDelayMs, this.lease, maxAttempts ?? null],
    );
    for (const id of ids) this.held.delete(id);
  }

  /** Makes the rows still held available again at once, if the lease is still this claim's. */
  async giveBack(): Promise<void> {
    if (this.held.size === 0) return;
    const ids = [...this.held];
    this.held.clear();
    await this.executor.query(
      `UPDATE ${this.table} SET available_at = now()
        WHERE id IN (SELECT unnest(string_to_array($1::text, ','))::bigint)
          AND published_at IS NULL
          AND available_at = ($2::timestamp AT TIME ZONE 'UTC')`,
      [ids.join(','), this.lease],
    );
  }
}

/** Orders decimal ids (bigserial as text) numerically. */
function compareIds(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}

/** kind, name, queue, payload, options and trace, as the text each column is given. */
type ColumnTexts = [string, string, string | null, string, string, string | null];

function columnTexts(row: NewOutboxRow): ColumnTexts {
  const payload = JSON.stringify(row.payload);
  // jsonb refuses what a Redis job takes; say so at the call, not as a database error.
  const refused = JSONB_REFUSES.exec(payload);
  if (refused) {
    throw new InvalidPayloadError(row.name, [
      `PostgreSQL jsonb cannot store ${refused[0].slice(-6)} (${
        /0000$/.test(refused[0]) ? 'the NUL character' : 'a lone UTF-16 surrogate'
      }) found in a string of the payload`,
    ]);
  }
  return [
    row.kind,
    row.name,
    row.queue,
    payload,
    JSON.stringify(row.options),
    row.trace ? JSON.stringify(row.trace) : null,
  ];
}

function toRow(r: RowRecord): OutboxRow {
  return {
    id: r.id,
    kind: r.kind,
    name: r.name,
    queue: r.queue,
    payload: r.payload,
    options: r.options,
    trace: r.trace,
    attempts: r.attempts,
  };
}
