import type { PGlite } from '@electric-sql/pglite';
import type { Pool } from 'pg';
import { InvalidOutboxOptionsError } from '../errors';
import type { ResolvedDatabase } from '../options/module-options';
import { type DriverLoader, loadDriver } from './load-driver';
import type { OutboxDriver } from './outbox-driver.interface';
import { PgDriver } from './pg.driver';
import { PgliteDriver } from './pglite.driver';

/**
 * Opens the configured database. Drivers are loaded lazily, as all are optional peers; one
 * that is not installed fails with `OutboxDriverMissingError`. `load` is for tests.
 */
export async function createDriver(
  database: ResolvedDatabase,
  load: DriverLoader = loadDriver,
): Promise<OutboxDriver> {
  if (database.kind === 'typeorm') {
    const { dataSource } = database;
    if (!dataSource.isInitialized) {
      throw new InvalidOutboxOptionsError(
        'the TypeORM DataSource given as typeorm is not initialised; initialise it first (TypeOrmModule does)',
      );
    }
    // TypeORM's PostgreSQL driver keeps a pg Pool; the relay borrows it and leaves it open.
    const pool = (dataSource as unknown as { driver: { master?: Pool } }).driver.master;
    if (!pool) throw new InvalidOutboxOptionsError('the TypeORM DataSource has no pg pool');
    return PgDriver.create({ pool }, await load('pg'));
  }
  // The options hold the app's objects typed structurally (see database-handles.interface.ts);
  // here they are the drivers' own types again.
  if (database.kind === 'pg') {
    const source = database.pool ? { pool: database.pool as unknown as Pool } : database;
    return PgDriver.create(source, await load('pg'));
  }
  const source = database.instance
    ? { instance: database.instance as unknown as PGlite }
    : { dataDir: database.dataDir };
  return PgliteDriver.create(source, load);
}
