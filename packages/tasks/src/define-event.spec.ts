import { Injectable } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { Task } from './decorators/task.decorator';
import { defineEvent, eventNameOf, isEventRef } from './define-event';
import { defineTask } from './define-task';
import { InvalidTaskOptionsError } from './errors';
import { InvalidEventError } from './errors/invalid-event.error';
import { checkTaskOptions, resolveTaskOptions } from './options/task-options';
import { TasksModule } from './tasks.module';
import { TasksRegistry } from './tasks.registry';

const OrderCreated = defineEvent<{ orderId: string }>('order.created');
const OrderPaid = defineEvent<{ orderId: string; cents: number }>('order.paid');

describe('defineEvent', () => {
  it('returns a frozen reference that carries the name', () => {
    expect(OrderCreated).toEqual({ kind: 'event', name: 'order.created' });
    expect(Object.isFrozen(OrderCreated)).toBe(true);
    expect(isEventRef(OrderCreated)).toBe(true);
  });

  it('is told apart from task references and names', () => {
    expect(isEventRef(defineTask('order.index'))).toBe(false);
    expect(isEventRef('order.created')).toBe(false);
    expect(isEventRef(null)).toBe(false);
  });

  it.each([['order:created'], [''], [' order.created'], ['order created'], ['x'.repeat(201)]])(
    'rejects the name %p with InvalidEventError naming it',
    (name) => {
      expect(() => defineEvent(name)).toThrow(InvalidEventError);
      expect(() => defineEvent(name)).toThrow(
        `Invalid event ${JSON.stringify(name)}: event names must be 1–200 characters`,
      );
    },
  );

  it('rejects a name that is not a string, saying what it got', () => {
    expect(() => defineEvent(42 as never)).toThrow(/^Invalid event \(number 42\): .*got number 42/);
  });
});

describe('eventNameOf', () => {
  const fail = (problem: string): never => {
    throw new Error(problem);
  };

  it('reads a reference or a name', () => {
    expect(eventNameOf(OrderCreated, fail)).toBe('order.created');
    expect(eventNameOf('order.paid', fail)).toBe('order.paid');
  });

  it('refuses anything else, a task reference included', () => {
    expect(() => eventNameOf(defineTask('order.index'), fail)).toThrow(
      'expected an event reference from defineEvent() or an event name, got an object',
    );
  });
});

describe('task option `on` with event references', () => {
  const fail = (problem: string): never => {
    throw new InvalidTaskOptionsError('t', problem);
  };

  it('resolves references, names and lists of both to names without duplicates', () => {
    expect(resolveTaskOptions('t', [{ on: OrderCreated }]).on).toEqual(['order.created']);
    expect(
      resolveTaskOptions('t', [{ on: [OrderCreated, 'order.updated', OrderPaid, 'order.created'] }])
        .on,
    ).toEqual(['order.created', 'order.updated', 'order.paid']);
  });

  it('rejects a task reference in `on`, naming the option', () => {
    expect(() => checkTaskOptions({ on: [OrderCreated, defineTask('x')] }, '', fail)).toThrow(
      /on must be an event reference \(defineEvent\(\)\), an event name or a list of them; expected .* got an object/,
    );
  });

  it('is checked in defineTask() too', () => {
    expect(defineTask('order.index', { on: OrderCreated }).options.on).toBe(OrderCreated);
    expect(() => defineTask('order.index', { on: [{ kind: 'event', name: 'a:b' }] })).toThrow(
      InvalidTaskOptionsError,
    );
  });
});

describe('event subscriptions discovered at startup', () => {
  const IndexOrder = defineTask<{ orderId: string }, void>('order.index', { on: OrderPaid });
  const AuditOrder = defineTask<{ orderId: string }, void>('order.audit');

  @Injectable()
  class OrderHandlers {
    @Task(IndexOrder)
    index(): void {}

    @Task(AuditOrder, { on: [OrderCreated, 'order.updated'] })
    audit(): void {}

    @Task('order.notify', { on: OrderCreated })
    notify(payload: { orderId: string }): string {
      return payload.orderId;
    }
  }

  let app: TestingModule;

  beforeEach(async () => {
    // No Redis is touched: no workers, and connections open lazily.
    app = await Test.createTestingModule({
      imports: [TasksModule.forRoot({ connection: 'redis://127.0.0.1:6379', workers: 'none' })],
      providers: [OrderHandlers],
    }).compile();
    app.useLogger(false);
    await app.init();
  });

  afterEach(() => app.close());

  it('registers the subscriptions of @Task handlers and of definitions by event name', () => {
    const registry = app.get(TasksRegistry);
    const names = (event: string) => registry.subscribers(event).map((task) => task.name);
    expect(names('order.created')).toEqual(['order.audit', 'order.notify']);
    expect(names('order.updated')).toEqual(['order.audit']);
    expect(names('order.paid')).toEqual(['order.index']);
    expect(names('order.craeted')).toEqual([]);
  });
});
