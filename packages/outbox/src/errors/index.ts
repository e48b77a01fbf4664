export * from './invalid-event.error';
export * from './invalid-outbox-options.error';
export * from './malformed-outbox-row.error';
export * from './no-transaction.error';
export * from './outbox-driver-missing.error';
export * from './outbox-table-missing.error';
export * from './unknown-event.error';
export * from './outbox-store-unsupported.error';
