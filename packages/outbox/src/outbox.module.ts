import { type DynamicModule, Module } from '@nestjs/common';
import { ClsPluginTransactional, TransactionHost } from '@nestjs-cls/transactional';
import { ClsModule } from 'nestjs-cls';
import { OUTBOX_STATS } from '@conveyor/tasks/internal';
import { createDriver } from './drivers/create-driver';
import type { OutboxDriver } from './drivers/outbox-driver.interface';
import type { OutboxModuleOptions } from './interfaces/module-options.interface';
import { resolveOutboxOptions, type ResolvedOutboxOptions } from './options/module-options';
import {
  OUTBOX_DRIVER,
  OUTBOX_STORE,
  OUTBOX_TRANSACTION_HOST,
  RESOLVED_OUTBOX_OPTIONS,
} from './outbox.constants';
import { OutboxInterceptor } from './outbox.interceptor';
import {
  ConfigurableOutboxModule,
  OUTBOX_ASYNC_OPTIONS_TYPE,
  OUTBOX_MODULE_OPTIONS,
  OUTBOX_OPTIONS_TYPE,
  type OutboxModuleExtras,
} from './outbox.module-definition';
import { InvalidOutboxOptionsError } from './errors';
import { Outbox } from './outbox.service';
import { OutboxPublisher } from './relay/outbox-publisher';
import { OutboxRelay } from './relay/outbox-relay';
import { RelayRedis } from './relay/relay-redis';
import { SqlOutboxStore } from './store/sql-outbox-store';
import { CommitWrites } from './transactions/commit-writes';
import { OutboxSignals } from './transactions/outbox-signals';
import { OutboxTransactionalAdapter } from './transactions/outbox-transactional.adapter';

/** Holds the options, the database and the signals; imported by the module and the adapter. */
@Module({})
class OutboxCoreModule {}

/**
 * The transactional outbox: `Outbox` writes jobs and events in the request's transaction,
 * `OutboxRelay` publishes them to BullMQ after commit. Needs `TasksModule` in the app.
 * Registers a `@nestjs-cls/transactional` plugin, so `TransactionHost` is injectable app-wide.
 * Global by default.
 *
 * @example
 * OutboxModule.forRoot({ url: process.env.DATABASE_URL, relay: true });
 *
 * @example
 * OutboxModule.forRootAsync({
 *   imports: [ConfigModule],
 *   inject: [ConfigService],
 *   useFactory: (config: ConfigService) => ({ url: config.get('DATABASE_URL'), relay: true }),
 * });
 */
@Module({})
export class OutboxModule extends ConfigurableOutboxModule {
  static override forRoot(options: typeof OUTBOX_OPTIONS_TYPE): DynamicModule {
    return assemble(super.forRoot(options), options.transactionHost);
  }

  static override forRootAsync(options: typeof OUTBOX_ASYNC_OPTIONS_TYPE): DynamicModule {
    return assemble(super.forRootAsync(options), options.transactionHost);
  }
}

function assemble(
  base: DynamicModule,
  transactionHost: OutboxModuleExtras['transactionHost'] = 'outbox',
): DynamicModule {
  if (transactionHost !== 'outbox' && transactionHost !== 'app') {
    throw new InvalidOutboxOptionsError(
      `transactionHost must be 'outbox' or 'app', got ${JSON.stringify(transactionHost)}`,
    );
  }
  const core: DynamicModule = {
    module: OutboxCoreModule,
    imports: base.imports ?? [],
    providers: [
      ...(base.providers ?? []),
      {
        provide: RESOLVED_OUTBOX_OPTIONS,
        inject: [OUTBOX_MODULE_OPTIONS],
        useFactory: (options: OutboxModuleOptions) => resolveOutboxOptions(options),
      },
      {
        provide: OUTBOX_DRIVER,
        inject: [RESOLVED_OUTBOX_OPTIONS],
        useFactory: (options: ResolvedOutboxOptions) => createDriver(options.database),
      },
      OutboxSignals,
      CommitWrites,
      { provide: OUTBOX_TRANSACTION_HOST, useValue: transactionHost },
    ],
    exports: [
      RESOLVED_OUTBOX_OPTIONS,
      OUTBOX_DRIVER,
      OutboxSignals,
      CommitWrites,
      OUTBOX_TRANSACTION_HOST,
    ],
  };
  // With 'app', the app's own plugin provides TransactionHost (global, like ours).
  const transactions =
    transactionHost === 'outbox'
      ? [
          ClsModule.registerPlugins([
            new ClsPluginTransactional({
              imports: [core],
              adapter: new OutboxTransactionalAdapter(),
            }),
          ]),
        ]
      : [];
  return {
    module: base.module,
    global: base.global,
    imports: [core, ...transactions],
    providers: [
      {
        provide: OUTBOX_STORE,
        inject: [
          OUTBOX_DRIVER,
          TransactionHost,
          OutboxSignals,
          CommitWrites,
          RESOLVED_OUTBOX_OPTIONS,
        ],
        useFactory: async (
          driver: OutboxDriver,
          txHost: TransactionHost<OutboxTransactionalAdapter>,
          signals: OutboxSignals,
          writes: CommitWrites,
          options: ResolvedOutboxOptions,
        ) => {
          const store = new SqlOutboxStore(
            driver,
            txHost,
            signals,
            options.table,
            options.tableName,
            writes,
          );
          if (options.createTable) await store.ensureSchema();
          return store;
        },
      },
      Outbox,
      OutboxInterceptor,
      RelayRedis,
      OutboxPublisher,
      OutboxRelay,
      // Health and metrics find the relay by this token, without importing this package.
      { provide: OUTBOX_STATS, useExisting: OutboxRelay },
    ],
    exports: [Outbox, OutboxInterceptor, OutboxRelay, OUTBOX_STORE, core],
  };
}
