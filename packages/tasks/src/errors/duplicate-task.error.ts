import { ConveyorError } from './conveyor.error';

/** Two `@Task()` handlers claim the same task name; raised at startup. */
export class DuplicateTaskError extends ConveyorError {
  override readonly name = 'DuplicateTaskError';

  constructor(
    readonly taskName: string,
    readonly first: string,
    readonly second: string,
  ) {
    super(
      `Task "${taskName}" has two handlers: ${first} and ${second}. ` +
        'A task name must have exactly one @Task() handler; rename one of them.',
    );
  }
}
