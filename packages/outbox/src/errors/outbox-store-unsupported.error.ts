import { ConveyorError } from '@conveyor/tasks';

/** The app's `OutboxStore` does not implement an optional operation the caller asked for. */
export class OutboxStoreUnsupportedError extends ConveyorError {
  override readonly name = 'OutboxStoreUnsupportedError';

  constructor(readonly operation: string) {
    super(
      `The outbox store provided under OUTBOX_STORE has no ${operation}(): implement it ` +
        `(see OutboxStore in @conveyor/outbox) or use the built-in SQL store.`,
    );
  }
}
