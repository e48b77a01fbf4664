import { checkKnownKeys, eventNameOf, type Fail, parseDuration } from '@conveyor/tasks/internal';
import { InvalidOutboxOptionsError } from '../errors';
import type {
  PGliteHandle,
  PgPoolHandle,
  TypeOrmDataSourceHandle,
} from '../interfaces/database-handles.interface';
import type { OutboxModuleOptions } from '../interfaces/module-options.interface';
import { DEFAULT_OUTBOX_TABLE } from '../outbox.constants';
import { quoteTable } from '../store/sql';

const MODULE_KEYS = [
  'url',
  'pool',
  'pglite',
  'typeorm',
  'table',
  'createTable',
  'notify',
  'writeAtCommit',
  'relay',
  'events',
];
const RELAY_KEYS = [
  'batchSize',
  'pollInterval',
  'retryDelay',
  'maxBackoff',
  'retention',
  'listen',
  'publishTimeout',
  'lease',
  'maxAttempts',
];
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

export type ResolvedDatabase =
  | { kind: 'pg'; url: string; pool?: undefined }
  | { kind: 'pg'; pool: PgPoolHandle; url?: undefined }
  | { kind: 'typeorm'; dataSource: TypeOrmDataSourceHandle }
  | { kind: 'pglite'; instance: PGliteHandle }
  | { kind: 'pglite'; dataDir?: string; instance?: undefined };

export interface ResolvedRelayOptions {
  batchSize: number;
  pollIntervalMs: number;
  retryDelayMs: number;
  maxBackoffMs: number;
  retentionMs: number | false;
  listen: boolean;
  /** Bound of the Redis calls of one batch (the PING, then every `addBulk`/`add`). */
  publishTimeoutMs: number;
  /** How long claimed rows stay the claiming relay's before another may take them. */
  leaseMs: number;
  /** Attempts after which a row that keeps failing for a reason of its own is set aside. */
  maxAttempts: number;
}

/** Module options checked once at startup, with defaults applied. */
export interface ResolvedOutboxOptions {
  database: ResolvedDatabase;
  /** The table as written in SQL: each part double-quoted. */
  table: string;
  /** The table name as given, for messages and derived names. */
  tableName: string;
  /** `LISTEN/NOTIFY` channel, derived from the table name. */
  channel: string;
  createTable: boolean;
  notify: boolean;
  /** Send a transaction's rows with its COMMIT (where the driver can), not one INSERT each. */
  writeAtCommit: boolean;
  relay: ResolvedRelayOptions | false;
  events: ResolvedEventsOptions;
}

/** How `Outbox.emit()` treats events, checked at startup. */
export interface ResolvedEventsOptions {
  /** `true`: any event may go without subscribers; otherwise the names that may. */
  allowUnsubscribed: true | ReadonlySet<string>;
}

export function resolveOutboxOptions(options: OutboxModuleOptions): ResolvedOutboxOptions {
  const fail: Fail = (problem) => {
    throw new InvalidOutboxOptionsError(problem);
  };
  if (typeof options !== 'object' || options === null) fail('options must be an object');
  checkKnownKeys(options as Record<string, unknown>, MODULE_KEYS, '', fail);

  const given = (['url', 'pool', 'pglite', 'typeorm'] as const).filter(
    (k) => options[k] !== undefined,
  );
  if (given.length > 1)
    fail(`give one of url, pool, pglite or typeorm, not ${given.join(' and ')}`);
  let database: ResolvedDatabase;
  if (options.typeorm !== undefined) {
    const dataSource = options.typeorm as { options?: { type?: unknown } };
    if (dataSource?.options?.type !== 'postgres') {
      fail('typeorm must be a TypeORM DataSource with type: "postgres"');
    }
    database = { kind: 'typeorm', dataSource: options.typeorm };
  } else if (options.url !== undefined) {
    if (typeof options.url !== 'string' || !/^postgres(ql)?:\/\//.test(options.url)) {
      fail('url must be a postgres:// or postgresql:// connection string');
    }
    database = { kind: 'pg', url: options.url };
  } else if (options.pool !== undefined) {
    if (typeof (options.pool as { connect?: unknown }).connect !== 'function') {
      fail('pool must be a pg Pool');
    }
    database = { kind: 'pg', pool: options.pool };
  } else if (options.pglite && typeof (options.pglite as PGliteHandle).query === 'function') {
    database = { kind: 'pglite', instance: options.pglite as PGliteHandle };
  } else {
    const p = (options.pglite ?? {}) as Record<string, unknown>;
    checkKnownKeys(p, ['dataDir'], 'pglite', fail);
    if (p.dataDir !== undefined && typeof p.dataDir !== 'string') {
      fail('pglite.dataDir must be a folder path');
    }
    database = { kind: 'pglite', dataDir: p.dataDir as string | undefined };
  }

  const tableName = options.table ?? DEFAULT_OUTBOX_TABLE;
  const parts = typeof tableName === 'string' ? tableName.split('.') : [];
  if (parts.length < 1 || parts.length > 2 || !parts.every((p) => IDENTIFIER.test(p))) {
    fail(
      `table must be a name or schema.name of letters, digits and _ (up to 63 each), got ${JSON.stringify(tableName)}`,
    );
  }
  for (const key of ['createTable', 'notify', 'writeAtCommit'] as const) {
    if (options[key] !== undefined && typeof options[key] !== 'boolean') {
      fail(`${key} must be true or false`);
    }
  }

  return {
    database,
    table: quoteTable(tableName),
    tableName,
    channel: `${parts.join('_')}_wake`.slice(0, 63),
    createTable: options.createTable ?? database.kind === 'pglite',
    notify: options.notify ?? true,
    writeAtCommit: options.writeAtCommit ?? true,
    relay: resolveRelay(options.relay, fail),
    events: resolveEvents(options.events, fail),
  };
}

function resolveEvents(value: OutboxModuleOptions['events'], fail: Fail): ResolvedEventsOptions {
  if (value === undefined) return { allowUnsubscribed: new Set() };
  if (typeof value !== 'object' || value === null) fail('events must be an options object');
  checkKnownKeys(value as Record<string, unknown>, ['allowUnsubscribed'], 'events', fail);
  const allow = value.allowUnsubscribed ?? false;
  if (allow === true) return { allowUnsubscribed: true };
  if (allow === false) return { allowUnsubscribed: new Set() };
  if (!Array.isArray(allow)) {
    fail('events.allowUnsubscribed must be true, false or a list of events (names or EventRefs)');
  }
  const names = (allow as readonly unknown[]).map((event, i) =>
    eventNameOf(event, (problem) => fail(`events.allowUnsubscribed[${i}]: ${problem}`)),
  );
  return { allowUnsubscribed: new Set(names) };
}

function resolveRelay(
  value: OutboxModuleOptions['relay'],
  fail: Fail,
): ResolvedRelayOptions | false {
  if (value === undefined || value === false) return false;
  const o = value === true ? {} : value;
  if (typeof o !== 'object' || o === null) fail('relay must be true, false or an options object');
  checkKnownKeys(o as Record<string, unknown>, RELAY_KEYS, 'relay', fail);
  const batchSize = o.batchSize ?? 100;
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10_000) {
    fail(`relay.batchSize must be an integer from 1 to 10000, got ${String(batchSize)}`);
  }
  const positive = (v: unknown, path: string, fallback: number) => {
    const ms = v === undefined ? fallback : parseDuration(v, path, fail);
    if (ms <= 0) fail(`${path} must be greater than 0`);
    return ms;
  };
  if (o.listen !== undefined && typeof o.listen !== 'boolean') {
    fail('relay.listen must be true or false');
  }
  const maxAttempts = o.maxAttempts ?? 10;
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1 || maxAttempts > 1_000_000) {
    fail(`relay.maxAttempts must be an integer from 1 to 1000000, got ${String(maxAttempts)}`);
  }
  const publishTimeoutMs = positive(o.publishTimeout, 'relay.publishTimeout', 5_000);
  const leaseMs = positive(o.lease, 'relay.lease', 30_000);
  // A lease that can end while its relay still waits on Redis hands the rows to a second
  // relay while the first may still publish them: harmless (same job ids), but for nothing.
  if (leaseMs < 2 * publishTimeoutMs) {
    fail(
      `relay.lease (${leaseMs} ms) must be at least twice relay.publishTimeout (${publishTimeoutMs} ms)`,
    );
  }
  return {
    batchSize,
    pollIntervalMs: positive(o.pollInterval, 'relay.pollInterval', 1_000),
    retryDelayMs: positive(o.retryDelay, 'relay.retryDelay', 1_000),
    maxBackoffMs: positive(o.maxBackoff, 'relay.maxBackoff', 30_000),
    retentionMs:
      o.retention === false ? false : positive(o.retention, 'relay.retention', 7 * 86_400_000),
    listen: o.listen ?? true,
    publishTimeoutMs,
    leaseMs,
    maxAttempts,
  };
}

/** The relay's options with every default, for `drain()` in a process without the relay. */
export function defaultRelayOptions(): ResolvedRelayOptions {
  return resolveRelay(true, (problem) => {
    throw new InvalidOutboxOptionsError(problem);
  }) as ResolvedRelayOptions;
}
