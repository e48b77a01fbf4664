import { InvalidEventError } from './errors/invalid-event.error';
import type { EventRef } from './interfaces/event-ref.interface';
import { describe, type Fail } from './options/validation';

/**
 * Event names follow the task-name rules (1–200 characters of letters, digits and . _ - /,
 * starting with a letter or digit): no ':' or spaces, so they can be part of job ids.
 */
export const EVENT_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._\-/]{0,199}$/;

/**
 * Declares a domain event once, with its payload type `P`, for the code that emits it
 * (`Outbox.emit(ref, payload)`, payload checked against `P`) and the tasks that subscribe to
 * it (`@Task(task, { on: ref })`, where the task must accept `P`). The name is checked here,
 * so a bad one fails at import time with `InvalidEventError`.
 *
 * @example
 * export const OrderCreated = defineEvent<{ orderId: string }>('order.created');
 *
 * @Task(IndexOrder, { on: OrderCreated }) // IndexOrder's payload must accept { orderId: string }
 * async index({ orderId }: { orderId: string }) {}
 *
 * await this.outbox.emit(OrderCreated, { orderId: order.id });
 */
export function defineEvent<P = unknown>(name: string): EventRef<P> {
  checkEventName(name, (problem) => {
    throw new InvalidEventError(name, problem);
  });
  return Object.freeze({ kind: 'event', name });
}

/** True for what `defineEvent()` returns. */
export function isEventRef(value: unknown): value is EventRef {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as EventRef).kind === 'event' &&
    typeof (value as EventRef).name === 'string'
  );
}

/** Checks an event name against the naming rules. */
export function checkEventName(name: unknown, fail: Fail): string {
  if (typeof name !== 'string' || !EVENT_NAME_PATTERN.test(name)) {
    fail(
      `event names must be 1–200 characters of letters, digits and . _ - /, starting with a letter or digit; got ${describe(name)}`,
    );
  }
  return name as string;
}

/** The name of an event given as an `EventRef` or a name; anything else fails. */
export function eventNameOf(event: unknown, fail: Fail): string {
  if (isEventRef(event)) return checkEventName(event.name, fail);
  if (typeof event === 'string') return checkEventName(event, fail);
  return fail(
    `expected an event reference from defineEvent() or an event name, got ${describe(event)}`,
  );
}
