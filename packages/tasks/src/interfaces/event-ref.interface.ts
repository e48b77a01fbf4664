/**
 * A typed reference to a domain event, created once with `defineEvent<P>()` and shared by the
 * code that emits it (`Outbox.emit(ref, payload)`) and the tasks that subscribe to it
 * (`@Task(task, { on: ref })`). `P` is the event's payload.
 */
export interface EventRef<P = unknown> {
  /** Tells an event reference from a task reference at run time. */
  readonly kind: 'event';
  readonly name: string;
  /** Type carrier only; never set at run time. */
  readonly __payload?: P;
}

/**
 * What a task's `on` option takes: an event reference, an event name (untyped, kept for
 * compatibility), or a list of them.
 */
export type EventSubscription<P = unknown> =
  string | EventRef<P> | readonly (string | EventRef<P>)[];

/**
 * Payload type of an event reference; of a list, the union of its events' payloads. Event
 * names given as strings are untyped and add nothing.
 */
export type EventPayloadOf<E> =
  E extends EventRef<infer P> ? P : E extends readonly (infer I)[] ? EventPayloadOf<I> : never;

/**
 * The compile error of `@Task(ref, { on })` when an event's payload does not fit the task's
 * payload: the type arguments name the offending payload and the task's. Never a value.
 */
export interface EventPayloadMismatch<Event, Task> {
  "error: the payload of an event in 'on' does not fit the task's payload": {
    event: Event;
    task: Task;
  };
}

/** Payloads of the events in `E` that a task with payload `P` cannot take. */
type UnfitPayloads<E, P> = EventPayloadOf<E> extends infer X ? (X extends P ? never : X) : never;

/**
 * `unknown` (no constraint) when every event in `E` carries a payload the task's payload `P`
 * accepts; otherwise an `EventPayloadMismatch` that no `on` value can satisfy.
 */
export type SubscribableBy<E, P> = [UnfitPayloads<E, P>] extends [never]
  ? unknown
  : EventPayloadMismatch<UnfitPayloads<E, P>, P>;
