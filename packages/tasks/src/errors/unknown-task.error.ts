import { ConveyorError } from './conveyor.error';

/** A task name that no `@Task()` handler or `defineTask()` reference in this app declares. */
export class UnknownTaskError extends ConveyorError {
  override readonly name = 'UnknownTaskError';

  constructor(
    readonly taskName: string,
    known: readonly string[] = [],
    /** For a job a worker took: the queue it came from, which this process has no handler of it for. */
    readonly queue?: string,
  ) {
    super(
      `Unknown task "${taskName}"` +
        (queue === undefined
          ? '. '
          : ` in a job of queue '${queue}', which this process consumes without a @Task() handler for it. `) +
        (known.length
          ? `Known tasks: ${known.slice(0, 20).join(', ')}${known.length > 20 ? ', …' : ''}. `
          : 'No task handlers are registered in this app. ') +
        (queue === undefined
          ? 'Declare it with defineTask() and a @Task() handler, or enqueue through its TaskRef.'
          : 'Route the task (routes, router or the enqueue option queue) to a queue whose workers handle it.'),
    );
  }
}
