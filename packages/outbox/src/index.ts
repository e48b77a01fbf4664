export { OutboxModule } from './outbox.module';
export { OUTBOX_MODULE_OPTIONS } from './outbox.module-definition';
export { Outbox, type OutboxEmission, type OutboxEntry } from './outbox.service';
export { OutboxInterceptor } from './outbox.interceptor';
export { OutboxRelay, type OutboxRelayStats } from './relay/outbox-relay';
export { OutboxTransactionalAdapter } from './transactions/outbox-transactional.adapter';
export type { OutboxTx, OutboxTxOptions } from './drivers/outbox-driver.interface';
export { OUTBOX_STORE, DEFAULT_OUTBOX_TABLE } from './outbox.constants';
export { createTableSql } from './store/sql';
export type {
  NewOutboxRow,
  OutboxClaim,
  OutboxFailure,
  OutboxJob,
  OutboxRow,
  OutboxStats,
  OutboxStore,
} from './store/outbox-store.interface';
export type {
  OutboxEventsOptions,
  OutboxModuleOptions,
  OutboxRelayOptions,
} from './interfaces/module-options.interface';
export type {
  PGliteHandle,
  PgPoolHandle,
  TypeOrmDataSourceHandle,
} from './interfaces/database-handles.interface';
export * from './errors';
