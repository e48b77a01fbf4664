import { ConveyorError } from '@conveyor/tasks';
import { DEFAULT_OUTBOX_TABLE } from '../outbox.constants';

/** The table's DDL as shipped, where an app that installed the package finds it. */
const SHIPPED_SQL = 'node_modules/@conveyor/outbox/sql/conveyor_outbox.sql';

/**
 * The outbox table does not exist: PostgreSQL answered `42P01` (undefined_table) for it. On
 * PostgreSQL the module creates the table only with `createTable: true`. Thrown by
 * `Outbox.enqueue()`/`emit()` (the database's error is its `cause`), `OutboxRelay.stats()`
 * and `drain()`; the relay logs it and publishes once the table exists, without a restart.
 */
export class OutboxTableMissingError extends ConveyorError {
  override readonly name = 'OutboxTableMissingError';

  constructor(
    /** The table as configured (`table` option): `name` or `schema.name`. */
    readonly table: string,
    options?: { cause?: unknown },
  ) {
    super(
      `The outbox table ${JSON.stringify(table)} does not exist; on PostgreSQL OutboxModule ` +
        'creates it only with createTable: true. Create it at startup with ' +
        'OutboxModule.forRoot({ createTable: true }), or in your migrations ' +
        (table === DEFAULT_OUTBOX_TABLE
          ? `run ${SHIPPED_SQL}.`
          : `run the SQL of createTableSql(${JSON.stringify(table)}) from @conveyor/outbox ` +
            `(${SHIPPED_SQL} is that SQL for the default name, ${DEFAULT_OUTBOX_TABLE}).`),
      options,
    );
  }
}
