import { ConveyorError } from './conveyor.error';

/** A task name that no `@Task()` handler or `defineTask()` reference in this app declares. */
export class UnknownTaskError extends ConveyorError {
  override readonly name = 'UnknownTaskError';

  constructor(
    readonly taskName: string,
    known: readonly string[] = [],
  ) {
    super(
      `Unknown task "${taskName}". ` +
        (known.length
          ? `Known tasks: ${known.slice(0, 20).join(', ')}${known.length > 20 ? ', …' : ''}. `
          : 'No task handlers are registered in this app. ') +
        'Declare it with defineTask() and a @Task() handler, or enqueue through its TaskRef.',
    );
  }
}
