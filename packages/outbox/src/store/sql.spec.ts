import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { splitStatements } from './sql-outbox-store';
import { createTableSql, quoteTable } from './sql';

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

  it('splits the DDL into single statements without comments', () => {
    const statements = splitStatements(createTableSql('t'));
    expect(statements).toHaveLength(3);
    expect(statements.every((s) => !s.includes('--') && !s.endsWith(';'))).toBe(true);
  });
});
