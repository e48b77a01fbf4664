import { createHash } from 'node:crypto';
import { InvalidOutboxOptionsError } from '../errors/invalid-outbox-options.error';

/** PostgreSQL keeps the first 63 bytes of an identifier and silently drops the rest. */
const MAX_IDENTIFIER_BYTES = 63;

/** Quotes one identifier: wrapped in double quotes, a double quote inside doubled. */
export function quoteIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** Quotes a `name` or `schema.name`, part by part. */
export function quoteTable(table: string): string {
  return table.split('.').map(quoteIdentifier).join('.');
}

/**
 * The name of one of the table's indexes: `<schema>_<table>_<suffix>` when that fits in 63
 * bytes (the names earlier versions created, so existing indexes are found), otherwise the
 * start of it cut on a character boundary, then 8 hex digits of a hash of the whole table
 * name, then the suffix. PostgreSQL would cut a longer name itself, and the two indexes of a
 * long name would then share one name: the second `CREATE INDEX IF NOT EXISTS` skipped.
 */
export function indexName(table: string, suffix: string): string {
  const base = table.replace(/\./g, '_');
  const plain = `${base}_${suffix}`;
  if (Buffer.byteLength(plain) <= MAX_IDENTIFIER_BYTES) return plain;
  const tail = `_${createHash('sha256').update(table).digest('hex').slice(0, 8)}_${suffix}`;
  return `${cutToBytes(base, MAX_IDENTIFIER_BYTES - Buffer.byteLength(tail))}${tail}`;
}

/** The longest start of `text` that fits in `bytes` bytes of UTF-8, whole characters only. */
function cutToBytes(text: string, bytes: number): string {
  let out = '';
  let used = 0;
  for (const char of text) {
    used += Buffer.byteLength(char);
    if (used > bytes) break;
    out += char;
  }
  return out;
}

/**
 * The outbox table and its indexes as separate statements, each idempotent: what
 * `createTable` runs, one statement at a time.
 */
export function createTableStatements(table: string): string[] {
  checkTableName(table);
  const q = quoteTable(table);
  return [
    `CREATE TABLE IF NOT EXISTS ${q} (
  id           bigserial   PRIMARY KEY,
  kind         text        NOT NULL CHECK (kind IN ('task', 'event')),
  name         text        NOT NULL,
  queue        text,
  payload      jsonb       NOT NULL,
  options      jsonb       NOT NULL DEFAULT '{}',
  trace        jsonb,
  created_at   timestamptz NOT NULL DEFAULT now(),
  available_at timestamptz NOT NULL DEFAULT now(),
  published_at timestamptz,
  attempts     integer     NOT NULL DEFAULT 0,
  last_error   text
)`,
    `CREATE INDEX IF NOT EXISTS ${quoteIdentifier(indexName(table, 'pending_idx'))} ON ${q} (id) WHERE published_at IS NULL`,
    `CREATE INDEX IF NOT EXISTS ${quoteIdentifier(indexName(table, 'published_idx'))} ON ${q} (published_at) WHERE published_at IS NOT NULL`,
    `CREATE INDEX IF NOT EXISTS ${quoteIdentifier(indexName(table, 'failing_idx'))} ON ${q} (id) WHERE published_at IS NULL AND attempts > 0`,
  ];
}

/**
 * The outbox table and its indexes, idempotent. `sql/conveyor_outbox.sql` in this package is
 * this with the default name, for apps that manage their schema with migrations. `table` is a
 * name or `schema.name`; any character but `.` may appear in either part.
 */
export function createTableSql(table: string): string {
  const [createTable, pendingIndex, publishedIndex, failingIndex] = createTableStatements(table);
  return `${createTable};
-- The relay's claim: unpublished rows in id order.
${pendingIndex};
-- Retention: published rows by age.
${publishedIndex};
-- Failing and set-aside rows, newest first (OutboxRelay.failedRows(), the dashboard).
${failingIndex};
`;
}

/**
 * What PostgreSQL can name: `name` or `schema.name`, parts non-empty, no NUL character.
 * (`OutboxModule` further keeps its `table` option to letters, digits and `_`.)
 */
function checkTableName(table: unknown): asserts table is string {
  const parts = typeof table === 'string' ? table.split('.') : [];
  if (
    parts.length < 1 ||
    parts.length > 2 ||
    parts.some((part) => part.length === 0 || part.includes('\0'))
  ) {
    throw new InvalidOutboxOptionsError(
      `createTableSql takes a table as 'name' or 'schema.name' (parts not empty, no NUL), got ${JSON.stringify(table)}`,
    );
  }
}
