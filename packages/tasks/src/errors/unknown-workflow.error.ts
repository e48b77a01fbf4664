import { ConveyorError } from './conveyor.error';

/** A durable workflow id with no workflow under this prefix, or a name no app registered. */
export class UnknownWorkflowError extends ConveyorError {
  override readonly name = 'UnknownWorkflowError';

  constructor(
    /** The workflow id, or the definition's name when `kind` is `'name'`. */
    readonly what: string,
    readonly kind: 'id' | 'name' = 'id',
    known: readonly string[] = [],
  ) {
    super(
      kind === 'id'
        ? `No durable workflow with id '${what}' (never started, or removed)`
        : `Unknown workflow "${what}": pass it in TasksModule.forRoot({ workflows: [...] }) ` +
            `of the processes that run it` +
            (known.length ? ` (registered: ${known.join(', ')})` : ' (none registered)'),
    );
  }
}
