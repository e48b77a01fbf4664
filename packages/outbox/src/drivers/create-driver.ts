import type { Pool } from 'pg';
import { InvalidOutboxOptionsError } from '../errors';
import type { ResolvedDatabase } from '../options/module-options';
import type { OutboxDriver } from './outbox-driver.interface';
import { PgDriver } from './pg.driver';
import { PgliteDriver } from './pglite.driver';

/** Opens the configured database; drivers are loaded lazily, as all are optional peers. */
export function createDriver(database: ResolvedDatabase): Promise<OutboxDriver> {
  if (database.kind === 'typeorm') {
    const { dataSource } = database;
    if (!dataSource.isInitialized) {
      throw new InvalidOutboxOptionsError(
        'the TypeORM DataSource given as typeorm is not initialised; initialise it first (TypeOrmModule does)',
      );
    }
    // TypeORM's PostgreSQL driver keeps a pg Pool; the relay borrows it and leaves it open.
    const pool = (dataSource.driver as unknown as { master?: Pool }).master;
    if (!pool) throw new InvalidOutboxOptionsError('the TypeORM DataSource has no pg pool');
    return PgDriver.create({ pool });
  }
  return database.kind === 'pg' ? PgDriver.create(database) : PgliteDriver.create(database);
}
