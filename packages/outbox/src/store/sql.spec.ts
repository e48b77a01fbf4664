import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidOutboxOptionsError } from '../errors';
import { createTableSql, createTableStatements, quoteTable } from './sql';

/** The index names of a DDL, as PostgreSQL reads them (quotes undone). */
function indexNames(sql: string): string[] {
  return [...sql.matchAll(/CREATE INDEX IF NOT EXISTS "((?:[^"]|"")+)"/g)].map((m) =>
    m[1]!.replace(/""/g, '"'),
  );
}

describe('outbox DDL', () => {
  it('ships sql/conveyor_outbox.sql identical to what createTable runs', () => {
    const shipped = readFileSync(join(__dirname, '../../sql/conveyor_outbox.sql'), 'utf8');
    expect(shipped).toBe(
      `-- Generated from createTableSql('conveyor_outbox'); keep in sync (a unit test checks).\n${createTableSql('conveyor_outbox')}`,
    );
  });

  it('quotes schema-qualified names part by part and names indexes after the table', () => {
    expect(quoteTable('app.outbox')).toBe('"app"."outbox"');
    const sql = createTableSql('app.outbox');
    expect(sql).toContain('CREATE TABLE IF NOT EXISTS "app"."outbox"');
    expect(sql).toContain(
      '"app_outbox_pending_idx" ON "app"."outbox" (id) WHERE published_at IS NULL',
    );
  });

  it('doubles a double quote inside a name, in the table and in its index names', () => {
    expect(quoteTable('we"ird')).toBe('"we""ird"');
    expect(quoteTable('s"x.t"y')).toBe('"s""x"."t""y"');
    const sql = createTableSql('we"ird');
    expect(sql).toContain('CREATE TABLE IF NOT EXISTS "we""ird" (');
    expect(sql).toContain('ON "we""ird" (id)');
    expect(indexNames(sql)).toEqual([
      'we"ird_pending_idx',
      'we"ird_published_idx',
      'we"ird_failing_idx',
    ]);
  });

  it('keeps index names within 63 bytes, distinct, and stable for a long table name', () => {
    const long = `s${'x'.repeat(62)}.t${'y'.repeat(62)}`;
    const names = indexNames(createTableSql(long));
    expect(names).toHaveLength(3);
    for (const name of names) expect(Buffer.byteLength(name)).toBeLessThanOrEqual(63);
    expect(new Set(names).size).toBe(3);
    expect(names[0]).toMatch(/_pending_idx$/);
    expect(names[1]).toMatch(/_published_idx$/);
    expect(names[2]).toMatch(/_failing_idx$/);
    // Same input, same names: a second run finds the indexes the first one made.
    expect(indexNames(createTableSql(long))).toEqual(names);
    // Two long names that share their first 63 bytes still get different indexes.
    const other = indexNames(createTableSql(`${long}z`));
    expect(other.filter((n) => names.includes(n))).toEqual([]);
  });

  it('cuts multi-byte names on a character boundary', () => {
    const names = indexNames(createTableSql('é'.repeat(31)));
    for (const name of names) {
      expect(Buffer.byteLength(name)).toBeLessThanOrEqual(63);
      expect(name).not.toContain('\ufffd');
      expect(Buffer.from(name).toString()).toBe(name);
    }
  });

  it('keeps the names of short tables as they were, so existing indexes are found', () => {
    expect(indexNames(createTableSql('conveyor_outbox'))).toEqual([
      'conveyor_outbox_pending_idx',
      'conveyor_outbox_published_idx',
      'conveyor_outbox_failing_idx',
    ]);
  });

  it('gives the DDL as single statements without comments, whatever the name holds', () => {
    for (const name of ['t', 'a;\n-- b', 'x.y;\nz']) {
      const statements = createTableStatements(name);
      expect(statements).toHaveLength(4);
      expect(statements.every((s) => !s.startsWith('--') && !s.endsWith(';'))).toBe(true);
    }
  });

  it.each([[''], ['a.'], ['.b'], ['a.b.c'], ['nul\0'], [42], [undefined]])(
    'refuses %j as a table name with a typed error',
    (table) => {
      const attempt = () => createTableSql(table as string);
      expect(attempt).toThrow(InvalidOutboxOptionsError);
      expect(attempt).toThrow(/createTableSql takes a table as 'name' or 'schema.name'/);
    },
  );
});
