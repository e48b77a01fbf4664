import { ConveyorError } from '@conveyor/tasks';

/**
 * An outbox row the relay cannot turn into jobs: written by hand, by a migration or by other
 * code than `Outbox`, it lacks what a row needs (`options.job`, a queue …) or holds what a
 * job cannot carry. The relay records the message on that row alone (`last_error`) and
 * publishes the rows beside it.
 */
export class MalformedOutboxRowError extends ConveyorError {
  override readonly name = 'MalformedOutboxRowError';

  constructor(
    readonly rowId: string,
    readonly problems: readonly string[],
    row: string,
  ) {
    super(
      `Outbox row ${rowId} (${row}) cannot be published: ${problems.join('; ')}. ` +
        'Fix the row and make it available again, or delete it (README: "Rows set aside").',
    );
  }
}
