/** Quotes a `name` or `schema.name` that has already been checked to be a plain identifier. */
export function quoteTable(table: string): string {
  return table
    .split('.')
    .map((part) => `"${part}"`)
    .join('.');
}

/**
 * The outbox table and its indexes, idempotent. `sql/conveyor_outbox.sql` in this package is
 * this with the default name, for apps that manage their schema with migrations.
 */
export function createTableSql(table: string): string {
  const q = quoteTable(table);
  const base = table.replace(/\./g, '_');
  return `CREATE TABLE IF NOT EXISTS ${q} (
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
);
-- The relay's claim: unpublished rows in id order.
CREATE INDEX IF NOT EXISTS "${base}_pending_idx" ON ${q} (id) WHERE published_at IS NULL;
-- Retention: published rows by age.
CREATE INDEX IF NOT EXISTS "${base}_published_idx" ON ${q} (published_at) WHERE published_at IS NOT NULL;
`;
}
