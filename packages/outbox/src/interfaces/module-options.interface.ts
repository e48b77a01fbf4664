import type { Duration, EventRef } from '@conveyor/tasks';
import type {
  PGliteHandle,
  PgPoolHandle,
  TypeOrmDataSourceHandle,
} from './database-handles.interface';

/** Tuning of the relay that moves committed outbox rows into BullMQ. */
export interface OutboxRelayOptions {
  /** Rows claimed (and published in one `addBulk` per queue) per batch. @default 100 */
  batchSize?: number;
  /** How often to look for rows when no notification arrives. @default '1s' */
  pollInterval?: Duration;
  /**
   * Delay before a row that failed to publish is tried again; it doubles with each failure up
   * to `maxBackoff`. The relay itself waits the same way after a failed round (Redis
   * unreachable, a batch that failed), with jitter: between half and all of that delay.
   * @default '1s'
   */
  retryDelay?: Duration;
  /** Upper bound of both backoffs. @default '30s' */
  maxBackoff?: Duration;
  /**
   * Bound of the Redis calls of one batch: the PING that checks Redis answers before rows are
   * claimed, and the `addBulk` calls (together). Rows whose jobs Redis did not acknowledge in
   * time count as failed; if the jobs were added after all, the retry adds nothing (same job
   * ids). Shutdown waits at most twice this for the batch in flight. @default '5s'
   */
  publishTimeout?: Duration;
  /**
   * How long claimed rows belong to the relay that claimed them. A claim is committed before
   * Redis is called, so no transaction stays open meanwhile; rows of a relay that died
   * mid-batch are claimed again by any relay once their lease has run out. At least twice
   * `publishTimeout`. @default '30s'
   */
  lease?: Duration;
  /**
   * Failed publishes after which a row that fails for a reason of its own (malformed, or a
   * job BullMQ refuses) is set aside: kept with its `last_error`, no longer claimed, out of
   * `pending` and the lag, counted in `setAside` until an operator fixes and replays or
   * deletes it. Failures because Redis is away, slow or refusing everything never set a row
   * aside, though they count in `attempts`. @default 10
   */
  maxAttempts?: number;
  /** Delete published rows older than this, in batches; `false` keeps them. @default '7d' */
  retention?: Duration | false;
  /**
   * Wake on PostgreSQL `LISTEN/NOTIFY` (a dedicated connection; not through PgBouncer in
   * transaction mode). Polling still runs. Ignored on PGlite. @default true
   */
  listen?: boolean;
}

/**
 * Options of `OutboxModule.forRoot()`. Give one of `url`, `pool`, `pglite` or `typeorm`; with none, the
 * outbox lives in an in-memory PGlite database.
 */
export interface OutboxModuleOptions {
  /** PostgreSQL connection string; the module owns and closes its `pg` pool. */
  url?: string;
  /** A `pg` pool the app owns (and closes). */
  pool?: PgPoolHandle;
  /**
   * Embedded PostgreSQL: a `PGlite` instance the app owns, or `{ dataDir }` for one the module
   * creates (in memory when `dataDir` is omitted). The default when neither `url` nor `pool` is
   * given.
   */
  pglite?: PGliteHandle | { dataDir?: string };
  /**
   * A TypeORM `DataSource` on PostgreSQL, initialised; the relay uses its pool. Pair it with
   * `transactionHost: 'app'` and the app's `TransactionalAdapterTypeOrm`, so the outbox
   * writes in the app's TypeORM transactions.
   */
  typeorm?: TypeOrmDataSourceHandle;
  /** Outbox table, optionally schema-qualified (`app.outbox`). @default 'conveyor_outbox' */
  table?: string;
  /**
   * Create the table and its indexes at startup (idempotent). When `false`, apply
   * `sql/conveyor_outbox.sql` from this package in your migrations.
   * @default true on PGlite, false on PostgreSQL
   */
  createTable?: boolean;
  /**
   * Send a `NOTIFY` (coalesced, on its own connection, after commit) so relays in other
   * processes wake at once. Sent only while a relay listens on the table's channel (looked
   * up at most once a second, by the `application_name` of its LISTEN connection).
   * @default true
   */
  notify?: boolean;
  /**
   * Send the rows a transaction records with its `COMMIT`, in one statement, instead of one
   * `INSERT` per `enqueue`/`emit` call: a one-row transaction then takes no extra round trip.
   * Ids are drawn ahead from the table's sequence, so `enqueue` still returns them. Until the
   * commit the rows are not visible to queries in the transaction, and a `ROLLBACK TO
   * SAVEPOINT` sent by hand does not take back a call made after the savepoint: set `false`
   * if you rely on either. A row that fails to insert fails the commit, which rolls back.
   * Applies to the transactions of the outbox's own adapter on `url`/`pool`; PGlite and
   * `transactionHost: 'app'` (TypeORM) always insert at the call. Ids ascend in call order
   * within a process; across processes they interleave by blocks of 100.
   * @default true
   */
  writeAtCommit?: boolean;
  /** Run the relay in this process: `true` or its options. @default false */
  relay?: boolean | OutboxRelayOptions;
  /** How `Outbox.emit()` treats events. */
  events?: OutboxEventsOptions;
}

/** How `Outbox.emit()` treats events. */
export interface OutboxEventsOptions {
  /**
   * Events that may be emitted while no task in this app subscribes to them: such an emit
   * writes nothing and returns no jobs. Any other event without a subscriber throws
   * `UnknownEventError`, since it would enqueue nothing (a typo, or subscribing handlers
   * missing from the app). `true` allows every event: typos then go unnoticed.
   * @default []
   */
  allowUnsubscribed?: boolean | readonly (string | EventRef)[];
}
