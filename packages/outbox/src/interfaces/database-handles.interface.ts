/*
 * What the outbox takes of the app's database objects, declared structurally: `pg`, TypeORM
 * and PGlite are optional peers, and an app that uses one of them must compile (with
 * `skipLibCheck: false`) without the others installed. The real objects fit these types;
 * the module checks them at startup.
 */

/** A `pg` `Pool` (the app owns and closes it). */
export interface PgPoolHandle {
  connect(): Promise<unknown>;
  query(text: string, values?: unknown[]): Promise<unknown>;
}

/** A `PGlite` instance (the app owns and closes it). */
export interface PGliteHandle {
  query(text: string, params?: unknown[]): Promise<unknown>;
  exec(text: string): Promise<unknown>;
  readonly waitReady: Promise<void>;
}

/** A TypeORM `DataSource` on PostgreSQL, initialised. */
export interface TypeOrmDataSourceHandle {
  readonly options: { readonly type: string };
  readonly isInitialized: boolean;
}
