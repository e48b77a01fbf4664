import type { ResolvedDatabase } from '../options/module-options';
import type { OutboxDriver } from './outbox-driver.interface';
import { PgDriver } from './pg.driver';
import { PgliteDriver } from './pglite.driver';

/** Opens the configured database; drivers are loaded lazily, as both are optional peers. */
export function createDriver(database: ResolvedDatabase): Promise<OutboxDriver> {
  return database.kind === 'pg' ? PgDriver.create(database) : PgliteDriver.create(database);
}
