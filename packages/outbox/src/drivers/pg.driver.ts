import { ConveyorLogger, errorField } from '@conveyor/tasks/internal';
import type { Client, ClientConfig, Pool, PoolClient } from 'pg';
import type { DriverModule } from './load-driver';
import {
  isolationSql,
  type OutboxDriver,
  type OutboxTx,
  type OutboxTxOptions,
} from './outbox-driver.interface';

/** PostgreSQL through node-postgres. Closes the pool only if it created it. */
export class PgDriver implements OutboxDriver {
  readonly kind = 'pg';
  private readonly logger = new ConveyorLogger('ConveyorOutbox');
  private closed = false;

  private constructor(
    private readonly pool: Pool,
    private readonly ownsPool: boolean,
    private readonly ClientClass: typeof Client,
    private readonly escapeLiteral: (value: string) => string,
  ) {}

  /** Over `source`'s pool, or a pool of its own on `source.url`; `pg` is the loaded package. */
  static create(source: { url?: string; pool?: Pool }, pg: DriverModule<'pg'>): PgDriver {
    const pool = source.pool ?? new pg.Pool({ connectionString: source.url, max: 10 });
    if (!source.pool) pool.on('error', () => undefined); // idle-client errors; queries report their own
    // pg's own quoting: doubles quotes, and backslashes in an E'' string, so the literal
    // reads the same whatever standard_conforming_strings is.
    return new PgDriver(pool, !source.pool, pg.Client, pg.escapeLiteral);
  }

  literal(value: string): string {
    return this.escapeLiteral(value);
  }

  get executor(): OutboxTx {
    return this.pool as unknown as OutboxTx;
  }

  transaction<T>(
    fn: (tx: OutboxTx) => Promise<T>,
    options?: OutboxTxOptions,
    beforeCommit?: (tx: OutboxTx) => string | undefined,
  ): Promise<T> {
    return this.onClient(async (client) => {
      await client.query(`BEGIN${isolationSql(options)}`);
      const result = await fn(client as unknown as OutboxTx);
      await commitWith(client, beforeCommit?.(client as unknown as OutboxTx));
      return result;
    });
  }

  /** Runs `body` on a pool client that it rolls back on error and then releases. */
  private async onClient<T>(body: (client: PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    // pg-pool takes its error listener off a client while it is checked out, so a connection
    // that dies between two queries (PostgreSQL restarting while the app works inside the
    // transaction) would emit 'error' with no listener and
    // crash the process. Record it instead: the next query fails, and the client is discarded.
    const onError = (error: Error) => (broken = error);
    client.on('error', onError);
    try {
      return await body(client);
    } catch (error) {
      await client.query('ROLLBACK').catch((rollbackError: Error) => {
        broken = rollbackError; // a connection that cannot roll back must not go back to the pool
      });
      throw error;
    } finally {
      client.removeListener('error', onError);
      client.release(broken);
    }
  }

  withSchemaLock<T>(fn: (tx: OutboxTx) => Promise<T>): Promise<T> {
    return this.transaction(async (tx) => {
      // CREATE … IF NOT EXISTS races between processes; one at a time.
      await tx.query(`SELECT pg_advisory_xact_lock(hashtext('conveyor_outbox_schema'))`);
      return fn(tx);
    });
  }

  prepared<R>(
    tx: unknown,
    name: string,
    sql: string,
    params: unknown[],
  ): Promise<{ rows: R[] }> | undefined {
    // Only on a node-postgres client (pg caches the statement per connection); the app's
    // TypeORM EntityManager, or a Client of another copy of pg, gets the plain query.
    if (!(tx instanceof this.ClientClass)) return undefined;
    return tx.query<R & object>({ name, text: sql, values: params });
  }

  async notify(channel: string): Promise<void> {
    await this.pool.query(`NOTIFY "${channel}"`);
  }

  async notifyIfListened(channel: string): Promise<boolean> {
    // pg_stat_get_activity shows every session's application_name to every role; the
    // listener names its connection after the channel (listenerName).
    const { rowCount } = await this.pool.query(
      `SELECT pg_notify($1, '') FROM pg_stat_get_activity(NULL) a WHERE a.application_name = $2 LIMIT 1`,
      [channel, listenerName(channel)],
    );
    return (rowCount ?? 0) > 0;
  }

  async listen(channel: string, onNotify: () => void): Promise<() => Promise<void>> {
    let client: Client | undefined;
    let stopped = false;
    let retry: NodeJS.Timeout | undefined;
    let delay = 500;
    const config = (this.pool as unknown as { options: ClientConfig }).options;
    const connect = async (): Promise<void> => {
      const c = new this.ClientClass(config);
      client = c;
      const reconnect = (error?: Error) => {
        if (stopped || client !== c) return;
        client = undefined;
        if (error)
          this.logger.warn(
            `outbox LISTEN connection lost (${error.message}); polling until it is back`,
            { channel, retryInMs: delay, error: errorField(error) },
          );
        void c.end().catch(() => undefined);
        retry = setTimeout(() => void connect().catch(() => reconnect()), delay);
        delay = Math.min(delay * 2, 30_000);
      };
      c.on('error', reconnect);
      c.on('end', () => reconnect());
      c.on('notification', (message) => {
        if (message.channel === channel) onNotify();
      });
      try {
        await c.connect();
        // SET rather than the client option, which a connection string's own would override.
        await c.query(`SET application_name = '${listenerName(channel)}'`);
        await c.query(`LISTEN "${channel}"`);
        delay = 500;
        onNotify(); // anything committed while we were not listening
      } catch (error) {
        reconnect(error as Error);
      }
    };
    await connect();
    return async () => {
      stopped = true;
      clearTimeout(retry);
      const c = client;
      client = undefined;
      await c?.end().catch(() => undefined);
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.ownsPool) await this.pool.end();
  }
}

/**
 * The `application_name` of a relay's LISTEN connection, by which writers see that someone
 * listens. The channel is letters, digits and `_` (checked with the table name).
 */
export function listenerName(channel: string): string {
  return `conveyor-relay ${channel}`.slice(0, 63);
}

/**
 * `COMMIT`, with `tail` (statements of the transaction's own) ahead of it in the same simple
 * query: a failing tail skips the `COMMIT`, and `onClient` rolls the transaction back.
 */
function commitWith(client: PoolClient, tail: string | undefined): Promise<unknown> {
  return client.query(tail ? `${tail}; COMMIT` : 'COMMIT');
}
