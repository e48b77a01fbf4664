import { Injectable, type Provider } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import {
  defineEvent,
  defineTask,
  InvalidEventError,
  InvalidPayloadError,
  Task,
  TasksModule,
} from '@conveyor/tasks';
import { UnknownEventError } from './errors';
import type { OutboxModuleOptions } from './interfaces/module-options.interface';
import { resolveOutboxOptions } from './options/module-options';
import { OUTBOX_STORE, RESOLVED_OUTBOX_OPTIONS } from './outbox.constants';
import { Outbox } from './outbox.service';
import type { NewOutboxRow, OutboxStore } from './store/outbox-store.interface';

const OrderCreated = defineEvent<{ orderId: string }>('order.created');
const OrderShipped = defineEvent<{ orderId: string; carrier: string }>('order.shipped');
const OrderArchived = defineEvent<{ orderId: string }>('order.archived');

const IndexOrder = defineTask<{ orderId: string }, void>('order.index');
const AuditOrder = defineTask<{ orderId: string }, void>('order.audit', { queue: 'audit' });

@Injectable()
class OrderTasks {
  @Task(IndexOrder, { on: [OrderCreated, OrderShipped] })
  index(): void {}

  @Task(AuditOrder, { on: 'order.created' })
  audit(): void {}
}

/** The database is the one collaborator faked here: rows land in memory, in a transaction. */
class MemoryStore {
  readonly rows: NewOutboxRow[] = [];

  inTransaction(): boolean {
    return true;
  }

  async insert(rows: readonly NewOutboxRow[]): Promise<string[]> {
    this.rows.push(...rows);
    return rows.map((_, i) => String(this.rows.length - rows.length + i + 1));
  }
}

describe('Outbox.emit', () => {
  let app: TestingModule;
  let outbox: Outbox;
  let store: MemoryStore;

  async function start(options: { outbox?: OutboxModuleOptions; providers?: Provider[] } = {}) {
    store = new MemoryStore();
    // No Redis is touched: no workers, and connections open lazily.
    app = await Test.createTestingModule({
      imports: [TasksModule.forRoot({ connection: 'redis://127.0.0.1:6379', workers: 'none' })],
      providers: [
        ...(options.providers ?? [OrderTasks]),
        Outbox,
        { provide: OUTBOX_STORE, useValue: store as unknown as OutboxStore },
        { provide: RESOLVED_OUTBOX_OPTIONS, useValue: resolveOutboxOptions(options.outbox ?? {}) },
      ],
    }).compile();
    app.useLogger(false);
    await app.init();
    outbox = app.get(Outbox);
  }

  afterEach(() => app?.close());

  it('writes a typed event as one row with a job for each subscribed task', async () => {
    await start();
    const emitted = await outbox.emit(OrderCreated, { orderId: 'o-1' });
    expect(emitted).toEqual({
      id: '1',
      jobIds: ['outbox-1-order.index', 'outbox-1-order.audit'],
      jobs: [
        { task: 'order.index', queue: 'default', jobId: 'outbox-1-order.index' },
        { task: 'order.audit', queue: 'audit', jobId: 'outbox-1-order.audit' },
      ],
    });
    expect(store.rows).toEqual([
      expect.objectContaining({
        kind: 'event',
        name: 'order.created',
        payload: { orderId: 'o-1' },
      }),
    ]);
  });

  it('still takes an event by name, untyped, for compatibility', async () => {
    await start();
    const emitted = await outbox.emit('order.shipped', { orderId: 'o-2', carrier: 'ups' });
    expect(emitted.jobs.map((job) => job.task)).toEqual(['order.index']);
    expect(store.rows).toHaveLength(1);
  });

  it('refuses an event no task subscribes to, naming the nearest subscribed one', async () => {
    await start();
    const attempt = outbox.emit('order.craeted', { orderId: 'o-3' });
    await expect(attempt).rejects.toBeInstanceOf(UnknownEventError);
    await expect(attempt).rejects.toMatchObject({
      name: 'UnknownEventError',
      event: 'order.craeted',
      suggestion: 'order.created',
      subscribed: ['order.created', 'order.shipped'],
    });
    await expect(attempt).rejects.toThrow(
      'No task subscribes to event "order.craeted", so emitting it would enqueue nothing. ' +
        'Did you mean "order.created"? ' +
        'Events with subscribers in this app: order.created, order.shipped. ' +
        'If nothing should run for this event, allow it: ' +
        "OutboxModule.forRoot({ events: { allowUnsubscribed: ['order.craeted'] } }).",
    );
    await expect(outbox.emit(OrderArchived, { orderId: 'o-3' })).rejects.toThrow(
      /^No task subscribes to event "order.archived", so emitting it would enqueue nothing\. Events with subscribers/,
    );
    expect(store.rows).toEqual([]);
  });

  it('writes nothing for an event listed in events.allowUnsubscribed, and still refuses others', async () => {
    await start({ outbox: { events: { allowUnsubscribed: [OrderArchived] } } });
    await expect(outbox.emit(OrderArchived, { orderId: 'o-4' })).resolves.toEqual({
      id: undefined,
      jobIds: [],
      jobs: [],
    });
    await expect(outbox.emit('order.craeted', {})).rejects.toBeInstanceOf(UnknownEventError);
    expect(store.rows).toEqual([]);
  });

  it('writes nothing for any unsubscribed event with events.allowUnsubscribed: true', async () => {
    await start({ outbox: { events: { allowUnsubscribed: true } } });
    await expect(outbox.emit('order.craeted', {})).resolves.toMatchObject({ jobs: [] });
    await expect(outbox.emit(OrderCreated, { orderId: 'o-5' })).resolves.toMatchObject({
      id: '1',
    });
    expect(store.rows).toHaveLength(1);
  });

  it('refuses every event in an app with no subscribing handlers, saying where they must be', async () => {
    await start({ providers: [] });
    const attempt = outbox.emit(OrderCreated, { orderId: 'o-6' });
    await expect(attempt).rejects.toMatchObject({ name: 'UnknownEventError', subscribed: [] });
    await expect(attempt).rejects.toThrow(
      /No task in this app subscribes to any event: emit\(\) fans an event out when it is written, to the @Task\(ref, \{ on \}\) handlers registered in the emitting app/,
    );
    expect(store.rows).toEqual([]);
  });

  it('refuses a bad event name or a task reference with InvalidEventError', async () => {
    await start();
    await expect(outbox.emit('order:created', {})).rejects.toThrow(
      /^Invalid event "order:created": event names must be 1–200 characters/,
    );
    await expect(outbox.emit(IndexOrder as never, {} as never)).rejects.toBeInstanceOf(
      InvalidEventError,
    );
    expect(store.rows).toEqual([]);
  });

  it("runs every subscriber's payload checks before writing", async () => {
    await start();
    await expect(outbox.emit(OrderCreated, { orderId: 1n } as never)).rejects.toBeInstanceOf(
      InvalidPayloadError,
    );
    expect(store.rows).toEqual([]);
  });

  it("type-checks the payload against the event's (a compile-time test)", () => {
    // Never called: each `@ts-expect-error` line must fail the spec typecheck
    // (`tsc -p packages/outbox/tsconfig.spec.json`), and the other lines must compile.
    const typed = async (outbox: Outbox) => {
      await outbox.emit(OrderCreated, { orderId: 'o-7' });
      await outbox.emit(OrderShipped, { orderId: 'o-7', carrier: 'ups' });
      // The user report: a payload of another shape.
      // @ts-expect-error 'id' does not exist in type '{ orderId: string; }'
      await outbox.emit(OrderCreated, { id: 42 });
      // @ts-expect-error property 'orderId' is missing
      await outbox.emit(OrderCreated, {});
      // @ts-expect-error type 'number' is not assignable to type 'string'
      await outbox.emit(OrderCreated, { orderId: 42 });
      // @ts-expect-error property 'carrier' is missing
      await outbox.emit(OrderShipped, { orderId: 'o-7' });
      // @ts-expect-error a task reference is not an event
      await outbox.emit(IndexOrder, { orderId: 'o-7' });
      // A bare name is untyped: anything goes, as before.
      await outbox.emit('order.created', { id: 42 });
    };
    expect(typed).toBeInstanceOf(Function);
  });
});
