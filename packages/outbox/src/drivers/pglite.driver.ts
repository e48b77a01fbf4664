import type { PGlite } from '@electric-sql/pglite';
import type { DriverLoader } from './load-driver';
import {
  isolationSql,
  type OutboxDriver,
  type OutboxTx,
  type OutboxTxOptions,
} from './outbox-driver.interface';

/**
 * Embedded PostgreSQL (PGlite), in memory or in a data folder. One connection, one process:
 * transactions run one at a time and there is no cross-process `NOTIFY`, so the relay in this
 * process is woken directly and otherwise polls.
 */
export class PgliteDriver implements OutboxDriver {
  readonly kind = 'pglite';
  private closed = false;

  private constructor(
    private readonly db: PGlite,
    private readonly ownsDb: boolean,
  ) {}

  /** Over the app's instance, or one of its own (`load` imports PGlite then). */
  static async create(
    source: { instance?: PGlite; dataDir?: string },
    load: DriverLoader,
  ): Promise<PgliteDriver> {
    if (source.instance) {
      await source.instance.waitReady;
      return new PgliteDriver(source.instance, false);
    }
    const { PGlite } = await load('@electric-sql/pglite');
    const db = new PGlite(source.dataDir);
    await db.waitReady;
    return new PgliteDriver(db, true);
  }

  get executor(): OutboxTx {
    return this.db as unknown as OutboxTx;
  }

  transaction<T>(fn: (tx: OutboxTx) => Promise<T>, options?: OutboxTxOptions): Promise<T> {
    return this.db.transaction(async (tx) => {
      const isolation = isolationSql(options);
      if (isolation) await tx.query(`SET TRANSACTION${isolation}`);
      return fn(tx as unknown as OutboxTx);
    });
  }

  withSchemaLock<T>(fn: (tx: OutboxTx) => Promise<T>): Promise<T> {
    return this.transaction(fn);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.ownsDb) await this.db.close();
  }
}
