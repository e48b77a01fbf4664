import type { TransactionalAdapter, TransactionalAdapterOptions } from '@nestjs-cls/transactional';
import type { OutboxDriver, OutboxTx, OutboxTxOptions } from '../drivers/outbox-driver.interface';
import { OUTBOX_DRIVER } from '../outbox.constants';
import { CommitWrites } from './commit-writes';
import { OutboxSignals } from './outbox-signals';

/**
 * `@nestjs-cls/transactional` adapter over the outbox's database (`pg` pool or PGlite), for
 * which the library ships none. `TransactionHost<OutboxTransactionalAdapter>.tx` is the
 * transaction's client; app queries through it share the transaction with `Outbox`.
 * Registered by `OutboxModule`; apps only name it as a type.
 *
 * @example
 * constructor(private readonly txHost: TransactionHost<OutboxTransactionalAdapter>) {}
 * await this.txHost.tx.query('INSERT INTO orders (id) VALUES ($1)', [id]);
 */
export class OutboxTransactionalAdapter implements TransactionalAdapter<
  OutboxDriver,
  OutboxTx,
  OutboxTxOptions
> {
  readonly connectionToken = OUTBOX_DRIVER;
  readonly extraProviderTokens = [OutboxSignals, CommitWrites];
  readonly supportsTransactionProxy = true;

  optionsFactory = (
    driver: OutboxDriver,
    extraProviders: unknown[],
  ): TransactionalAdapterOptions<OutboxTx, OutboxTxOptions> => {
    const signals = extraProviders[0] as OutboxSignals;
    const writes = extraProviders[1] as CommitWrites;
    return {
      wrapWithTransaction: async (options, fn, setTx) => {
        let tx: OutboxTx | undefined;
        let committed = false;
        try {
          const result = await driver.transaction(
            (client) => {
              tx = client;
              writes.begin(client);
              setTx(client);
              return fn();
            },
            options,
            (client) => writes.take(client),
          );
          committed = true;
          return result;
        } finally {
          if (tx) {
            writes.end(tx);
            signals.settled(tx, committed);
          }
        }
      },
      getFallbackInstance: () => driver.executor,
    };
  };
}
