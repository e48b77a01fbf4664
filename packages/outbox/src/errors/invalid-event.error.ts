import { ConveyorError } from '@conveyor/tasks';

/** An event name given to `Outbox.emit()` that cannot be stored or routed. */
export class InvalidEventError extends ConveyorError {
  override readonly name = 'InvalidEventError';

  constructor(
    readonly event: unknown,
    problem: string,
  ) {
    super(`Invalid outbox event ${JSON.stringify(String(event))}: ${problem}`);
  }
}
