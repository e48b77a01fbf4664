import { Reflector } from '@nestjs/core';
import { z } from 'zod';
import { defineEvent } from '../define-event';
import { defineTask } from '../define-task';
import { TASK_METADATA } from '../tasks.constants';
import type { TaskContext } from '../worker/task-context';
import { Task, type TaskMetadata } from './task.decorator';

// Type-level tests: each `@ts-expect-error` line must fail to compile (the spec typecheck,
// `tsc -p packages/tasks/tsconfig.spec.json`, fails if it compiles), and everything else
// must compile. At run time the decorators only store metadata.

const OrderCreated = defineEvent<{ orderId: string }>('order.created');
const OrderPaid = defineEvent<{ orderId: string; cents: number }>('order.paid');
const UserSignedUp = defineEvent<{ userId: string }>('user.signed-up');
const Untyped = defineEvent('order.untyped');

const IndexOrder = defineTask<{ orderId: string }, void>('order.index');
// A schema's input is what events must fit; the handler receives its output.
const Reindex = defineTask('order.reindex', {
  schema: z.object({ orderId: z.string(), full: z.boolean().default(false) }),
});

class Subscribers {
  @Task(IndexOrder, { on: OrderCreated })
  byRef(payload: { orderId: string }, ctx: TaskContext): void {
    void payload;
    void ctx;
  }

  // A payload with more than the task needs fits it.
  @Task(IndexOrder, { on: [OrderCreated, OrderPaid, 'order.legacy'] })
  byList(payload: { orderId: string }): void {
    void payload;
  }

  @Task(IndexOrder, { on: 'order.created', lock: (payload) => payload.orderId })
  byName(payload: { orderId: string }): void {
    void payload;
  }

  @Task(Reindex, { on: OrderCreated })
  withSchema(payload: { orderId: string; full: boolean }): void {
    void payload;
  }

  @Task('order.notify', { on: [OrderCreated, OrderPaid] })
  namedTask(payload: { orderId: string }): void {
    void payload;
  }

  @Task('order.log', { on: Untyped })
  untypedEvent(payload: unknown): void {
    void payload;
  }
}

class Mismatches {
  // An event whose payload the task does not accept.
  // @ts-expect-error the payload of an event in 'on' does not fit the task's payload
  @Task(IndexOrder, { on: UserSignedUp })
  wrongEvent(payload: { orderId: string }): void {
    void payload;
  }

  // One bad event in a list is enough.
  // @ts-expect-error the payload of an event in 'on' does not fit the task's payload
  @Task(IndexOrder, { on: [OrderCreated, UserSignedUp] })
  wrongEventInList(payload: { orderId: string }): void {
    void payload;
  }

  // An untyped event (payload unknown) cannot feed a typed task.
  // @ts-expect-error the payload of an event in 'on' does not fit the task's payload
  @Task(IndexOrder, { on: Untyped })
  untypedEvent(payload: { orderId: string }): void {
    void payload;
  }

  // A task reference is not an event.
  // @ts-expect-error 'kind' is missing in TaskRef
  @Task(IndexOrder, { on: Reindex })
  taskAsEvent(payload: { orderId: string }): void {
    void payload;
  }

  // A task named by string: the handler must take every subscribed event's payload.
  // @ts-expect-error property 'userId' is missing in type '{ orderId: string; }'
  @Task('user.welcome', { on: OrderCreated })
  wrongHandler(payload: { userId: string }): void {
    void payload;
  }

  // @ts-expect-error property 'cents' is missing in type '{ orderId: string; }'
  @Task('order.bill', { on: [OrderCreated, OrderPaid] })
  handlerTooNarrow(payload: { orderId: string; cents: number }): void {
    void payload;
  }
}

// defineTask() checks `on` against its payload type as well.
// @ts-expect-error property 'orderId' is missing in type '{ userId: string; }'
defineTask<{ orderId: string }, void>('order.ship', { on: UserSignedUp });

describe('@Task() with events', () => {
  const metadataOf = (method: unknown) =>
    new Reflector().get<TaskMetadata | undefined>(TASK_METADATA, method as () => void);

  it('stores the event references as given; the explorer resolves them at startup', () => {
    expect(metadataOf(Subscribers.prototype.byList)).toEqual({
      task: IndexOrder,
      options: { on: [OrderCreated, OrderPaid, 'order.legacy'] },
    });
    expect(metadataOf(Subscribers.prototype.namedTask)?.task).toBe('order.notify');
    expect(metadataOf(Mismatches.prototype.wrongEvent)?.options?.on).toBe(UserSignedUp);
  });
});
