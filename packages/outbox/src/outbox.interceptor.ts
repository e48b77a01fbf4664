import {
  type CallHandler,
  type ExecutionContext,
  Inject,
  Injectable,
  type NestInterceptor,
} from '@nestjs/common';
import { TransactionHost } from '@nestjs-cls/transactional';
import { defer, lastValueFrom, type Observable } from 'rxjs';
import { OUTBOX_TRANSACTION_HOST } from './outbox.constants';
import { OutboxSignals } from './transactions/outbox-signals';
import type { OutboxTransactionalAdapter } from './transactions/outbox-transactional.adapter';

/**
 * Runs the route handler in a database transaction (joining one already open): it commits
 * when the handler succeeds and rolls back when it throws, taking the handler's rows and its
 * outbox events with it. Relays are woken after the commit. Use per route, per controller or
 * globally.
 *
 * @example
 * @Controller('orders')
 * @UseInterceptors(OutboxInterceptor)
 * export class OrdersController { … }
 */
@Injectable()
export class OutboxInterceptor implements NestInterceptor {
  constructor(
    private readonly txHost: TransactionHost<OutboxTransactionalAdapter>,
    private readonly signals: OutboxSignals,
    @Inject(OUTBOX_TRANSACTION_HOST) private readonly host: 'outbox' | 'app',
  ) {}

  intercept(_context: ExecutionContext, next: CallHandler): Observable<unknown> {
    // @Transactional() on intercept() would wrap only the creation of the Observable; the
    // transaction must span the handler's whole run, so it wraps the awaited stream.
    return defer(async () => {
      // Our adapter wakes the relays itself; the app's transaction host has no such hook.
      const opens = this.host === 'app' && !this.txHost.isTransactionActive();
      let tx: object | undefined;
      const result = await this.txHost.withTransaction(() => {
        tx = this.txHost.tx as object;
        return lastValueFrom(next.handle(), { defaultValue: undefined });
      });
      if (opens && tx) this.signals.settled(tx, true);
      return result;
    });
  }
}
