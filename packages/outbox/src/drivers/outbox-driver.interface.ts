/**
 * What app code gets from `TransactionHost.tx`: the `pg` `PoolClient` (or `Pool` outside a
 * transaction) or the PGlite `Transaction` (or `PGlite`), typed as the `query` both share.
 */
export interface OutboxTx {
  query<R = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<{ rows: R[] }>;
}

/** Options of one transaction opened through `TransactionHost`. */
export interface OutboxTxOptions {
  isolationLevel?: 'read committed' | 'repeatable read' | 'serializable';
}

/** The database under the outbox: `pg` or PGlite. Internal seam between store and adapter. */
export interface OutboxDriver {
  readonly kind: 'pg' | 'pglite';
  /** Autocommit queries: the pool or the PGlite instance. */
  readonly executor: OutboxTx;
  /**
   * Runs `fn` in a new transaction; commits when it resolves, rolls back when it throws.
   * Where the driver can send statements together (it has `literal`), the SQL `beforeCommit`
   * returns, if any, travels with the `COMMIT` in one simple query: no parameters, so it may
   * inline only values quoted by `literal`. A failing statement there rolls everything back.
   */
  transaction<T>(
    fn: (tx: OutboxTx) => Promise<T>,
    options?: OutboxTxOptions,
    beforeCommit?: (tx: OutboxTx) => string | undefined,
  ): Promise<T>;
  /** Quotes text as an SQL string literal; present where `beforeCommit` is honoured. */
  literal?(value: string): string;
  /** Serialises schema changes across processes (no-op where there is one process). */
  withSchemaLock<T>(fn: (tx: OutboxTx) => Promise<T>): Promise<T>;
  /**
   * Runs `sql` as a named prepared statement on `tx` (parsed and planned once per connection)
   * when `tx` is a connection this driver can prepare on; `undefined` otherwise (the caller
   * then runs it as a plain query).
   */
  prepared?<R>(
    tx: unknown,
    name: string,
    sql: string,
    params: unknown[],
  ): Promise<{ rows: R[] }> | undefined;
  /** `NOTIFY channel` outside any app transaction; absent where it cannot reach others. */
  notify?(channel: string): Promise<void>;
  /**
   * `NOTIFY channel` only if a relay listens on it (one round trip either way); resolves to
   * whether one does. Present wherever `notify` is.
   */
  notifyIfListened?(channel: string): Promise<boolean>;
  /**
   * `LISTEN channel` on a dedicated connection, which `notifyIfListened` can see; resolves
   * to a function that stops it.
   */
  listen?(channel: string, onNotify: () => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

export function isolationSql(options: OutboxTxOptions | undefined): string {
  const level = options?.isolationLevel;
  if (level === undefined) return '';
  if (!['read committed', 'repeatable read', 'serializable'].includes(level)) {
    throw new TypeError(`unknown isolation level ${JSON.stringify(level)}`);
  }
  return ` ISOLATION LEVEL ${level.toUpperCase()}`;
}
