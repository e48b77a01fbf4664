import { describe } from '../options/validation';
import { ConveyorError } from './conveyor.error';

/**
 * An event that cannot be stored or routed: a name given to `defineEvent()`, `on` or
 * `Outbox.emit()` outside the naming rules, or a value that is neither a name nor an
 * `EventRef`.
 */
export class InvalidEventError extends ConveyorError {
  override readonly name = 'InvalidEventError';

  constructor(
    readonly event: unknown,
    problem: string,
  ) {
    super(
      `Invalid event ${typeof event === 'string' ? JSON.stringify(event) : `(${describe(event)})`}: ${problem}`,
    );
  }
}
