import { OutboxTableMissingError } from '../errors';

/** PostgreSQL's `undefined_table`. */
const UNDEFINED_TABLE = '42P01';

/**
 * `error` as an `OutboxTableMissingError` (with `error` as its `cause`) when it is PostgreSQL
 * saying that outbox table `table` (`name` or `schema.name`, as configured), or its id
 * sequence, does not exist; otherwise `error` unchanged. The code alone does not tell: it
 * also reports an alias a query misspelt ("missing FROM-clause entry for table"). So the
 * message must name the table, as PostgreSQL writes it (`relation "app.outbox" does not
 * exist`, the sequence `app.outbox_id_seq`), which holds in any `lc_messages` language.
 * `pg` and PGlite put the code on the error; TypeORM's `QueryFailedError` copies it.
 */
export function asMissingTable(error: unknown, table: string): unknown {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  return code === UNDEFINED_TABLE && typeof message === 'string' && message.includes(table)
    ? new OutboxTableMissingError(table, { cause: error })
    : error;
}
