import { ConfigurableModuleBuilder } from '@nestjs/common';
import type { OutboxModuleOptions } from './interfaces/module-options.interface';

/** Options read when the module is defined, before any provider exists. */
export interface OutboxModuleExtras {
  /** Register the module globally. @default true */
  isGlobal: boolean;
  /**
   * `'outbox'`: the module registers a `@nestjs-cls/transactional` plugin with its own adapter
   * over the outbox database, and `TransactionHost<OutboxTransactionalAdapter>` is the app's
   * transaction host. `'app'`: the app registers its own (e.g. `TransactionalAdapterTypeOrm`)
   * and the outbox writes through it; its transactions must be on the outbox's database.
   * @default 'outbox'
   */
  transactionHost: 'outbox' | 'app';
}

export const {
  ConfigurableModuleClass: ConfigurableOutboxModule,
  MODULE_OPTIONS_TOKEN: OUTBOX_MODULE_OPTIONS,
  OPTIONS_TYPE: OUTBOX_OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE: OUTBOX_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<OutboxModuleOptions>({ moduleName: 'Outbox' })
  .setClassMethodName('forRoot')
  .setExtras<OutboxModuleExtras>(
    { isGlobal: true, transactionHost: 'outbox' },
    (definition, extras) => ({
      ...definition,
      global: extras.isGlobal,
    }),
  )
  .build();
