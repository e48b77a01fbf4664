import { ConveyorError } from '@conveyor/tasks';

/**
 * `Outbox.enqueue()` or `Outbox.emit()` was called with no database transaction open, so the
 * event could not be tied to a commit.
 */
export class NoTransactionError extends ConveyorError {
  override readonly name = 'NoTransactionError';

  constructor(readonly operation: 'enqueue' | 'emit') {
    super(
      `Outbox.${operation}() needs an open database transaction, and none is active. ` +
        'Put @UseInterceptors(OutboxInterceptor) on the controller or route, mark the calling ' +
        'method @Transactional(), or wrap the call in txHost.withTransaction(async () => …) ' +
        '(TransactionHost from @nestjs-cls/transactional).',
    );
  }
}
