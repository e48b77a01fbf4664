import { defineEvent } from '@conveyor/tasks';
import { InvalidOutboxOptionsError } from '../errors';
import { resolveOutboxOptions } from './module-options';

describe('resolveOutboxOptions', () => {
  it('defaults to an in-memory PGlite, the conveyor_outbox table, created at startup, no relay', () => {
    expect(resolveOutboxOptions({})).toEqual({
      database: { kind: 'pglite', dataDir: undefined },
      table: '"conveyor_outbox"',
      tableName: 'conveyor_outbox',
      channel: 'conveyor_outbox_wake',
      createTable: true,
      notify: true,
      writeAtCommit: true,
      relay: false,
      events: { allowUnsubscribed: new Set() },
    });
  });

  it('leaves the schema to migrations on PostgreSQL unless createTable is set', () => {
    const options = resolveOutboxOptions({ url: 'postgresql://u@h/db', table: 'app.events' });
    expect(options).toMatchObject({
      database: { kind: 'pg', url: 'postgresql://u@h/db' },
      table: '"app"."events"',
      channel: 'app_events_wake',
      createTable: false,
    });
  });

  it('fills relay defaults and converts durations', () => {
    expect(resolveOutboxOptions({ relay: true }).relay).toEqual({
      batchSize: 100,
      pollIntervalMs: 1_000,
      retryDelayMs: 1_000,
      maxBackoffMs: 30_000,
      retentionMs: 7 * 86_400_000,
      listen: true,
      publishTimeoutMs: 5_000,
      leaseMs: 30_000,
      maxAttempts: 10,
    });
    expect(
      resolveOutboxOptions({ relay: { pollInterval: '250ms', retention: false, batchSize: 5 } })
        .relay,
    ).toMatchObject({ pollIntervalMs: 250, retentionMs: false, batchSize: 5 });
  });

  it.each([
    [{ tabel: 'x' }, /unknown option tabel \(did you mean 'table'\?\)/],
    [{ relay: { pollInterva: '1s' } }, /unknown option relay.pollInterva/],
    [{ url: 'mysql://x' }, /url must be a postgres/],
    [
      { url: 'postgres://x', pglite: {} },
      /give one of url, pool, pglite or typeorm, not url and pglite/,
    ],
    [{ table: 'drop table x;' }, /table must be a name or schema.name/],
    [{ relay: { batchSize: 0 } }, /relay.batchSize must be an integer/],
    [{ relay: { pollInterval: 'soon' } }, /relay.pollInterval/],
    [{ notify: 'yes' }, /notify must be true or false/],
    [{ writeAtCommit: 1 }, /writeAtCommit must be true or false/],
    [{ relay: { publishTimeout: 0 } }, /relay.publishTimeout must be greater than 0/],
    [{ relay: { lease: 'a while' } }, /relay.lease/],
    [
      { relay: { publishTimeout: '10s', lease: '15s' } },
      /relay.lease \(15000 ms\) must be at least twice relay.publishTimeout \(10000 ms\)/,
    ],
    [{ relay: { publishTimeout: '1s', leaseMs: '3s' } }, /unknown option relay.leaseMs/],
    [{ relay: { maxAttempts: 0 } }, /relay.maxAttempts must be an integer from 1/],
    [{ relay: { maxAttempts: 2.5 } }, /relay.maxAttempts must be an integer from 1/],
    [
      { relay: { maxAttempt: 3 } },
      /unknown option relay.maxAttempt \(did you mean 'maxAttempts'\?\)/,
    ],
    [{ typeorm: { options: { type: 'mysql' } } }, /typeorm must be a TypeORM DataSource with type/],
    [
      { events: { allowUnsubscibed: true } },
      /unknown option events.allowUnsubscibed \(did you mean 'allowUnsubscribed'\?\)/,
    ],
    [{ events: { allowUnsubscribed: 'yes' } }, /events.allowUnsubscribed must be true, false or/],
    [
      { events: { allowUnsubscribed: ['order.created', 'order:paid'] } },
      /events.allowUnsubscribed\[1\]: event names must be .*got 'order:paid'/,
    ],
  ])('rejects %j with a message naming the option', (options, message) => {
    const attempt = () => resolveOutboxOptions(options as never);
    expect(attempt).toThrow(InvalidOutboxOptionsError);
    expect(attempt).toThrow(message);
  });

  it('reads events.allowUnsubscribed as every event, or a list of names and references', () => {
    const OrderArchived = defineEvent<{ orderId: string }>('order.archived');
    expect(resolveOutboxOptions({ events: { allowUnsubscribed: true } }).events).toEqual({
      allowUnsubscribed: true,
    });
    expect(resolveOutboxOptions({ events: { allowUnsubscribed: false } }).events).toEqual({
      allowUnsubscribed: new Set(),
    });
    expect(
      resolveOutboxOptions({ events: { allowUnsubscribed: [OrderArchived, 'audit.trail'] } })
        .events,
    ).toEqual({ allowUnsubscribed: new Set(['order.archived', 'audit.trail']) });
  });
});
