/** Injection token of the checked, defaulted module options. */
export const RESOLVED_OUTBOX_OPTIONS = Symbol('CONVEYOR_RESOLVED_OUTBOX_OPTIONS');

/** Injection token of the database driver (pg pool or PGlite) the outbox writes through. */
export const OUTBOX_DRIVER = Symbol('CONVEYOR_OUTBOX_DRIVER');

/** Injection token of the `OutboxStore` the writer and the relay use. */
export const OUTBOX_STORE = Symbol('CONVEYOR_OUTBOX_STORE');

/** Default table name. */
export const DEFAULT_OUTBOX_TABLE = 'conveyor_outbox';

/** Injection token of `'outbox' | 'app'`: whose adapter runs the transactions. */
export const OUTBOX_TRANSACTION_HOST = Symbol('CONVEYOR_OUTBOX_TRANSACTION_HOST');
