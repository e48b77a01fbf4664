import { ConveyorError } from '@conveyor/tasks';
import { nearest } from '@conveyor/tasks/internal';

/**
 * `Outbox.emit()` of an event that no task in this app subscribes to (`@Task(ref, { on })`),
 * so it would enqueue nothing: usually a typo, or an app that lacks the subscribing
 * handlers. Allow it per event with `OutboxModule.forRoot({ events: { allowUnsubscribed } })`.
 */
export class UnknownEventError extends ConveyorError {
  override readonly name = 'UnknownEventError';
  /** The subscribed event name closest to `event`, if it is close enough to be a typo. */
  readonly suggestion: string | undefined;

  constructor(
    readonly event: string,
    /** Events that tasks in this app subscribe to. */
    readonly subscribed: readonly string[],
    /** Events allowed without subscribers: candidates for the suggestion too. */
    allowed: readonly string[] = [],
  ) {
    const suggestion = nearest(event, [...subscribed, ...allowed]);
    super(
      `No task subscribes to event "${event}", so emitting it would enqueue nothing. ` +
        (suggestion ? `Did you mean "${suggestion}"? ` : '') +
        (subscribed.length
          ? `Events with subscribers in this app: ${subscribed.slice(0, 20).join(', ')}${subscribed.length > 20 ? ', …' : ''}. `
          : 'No task in this app subscribes to any event: emit() fans an event out when it ' +
            'is written, to the @Task(ref, { on }) handlers registered in the emitting app, so ' +
            "add their providers here (with workers: 'none' they do not run in this process). ") +
        'If nothing should run for this event, allow it: ' +
        `OutboxModule.forRoot({ events: { allowUnsubscribed: ['${event}'] } }).`,
    );
    this.suggestion = suggestion;
  }
}
