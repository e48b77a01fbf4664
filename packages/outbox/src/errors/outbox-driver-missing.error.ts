import { ConveyorError } from '@conveyor/tasks';

/** The optional peer dependencies the outbox reaches its database through. */
export type OutboxDriverPackage = 'pg' | '@electric-sql/pglite';

const WHAT_TO_DO: Record<OutboxDriverPackage, string> = {
  '@electric-sql/pglite':
    'OutboxModule runs on embedded PostgreSQL (PGlite) when its options give none of url, ' +
    'pool, pglite or typeorm, or give pglite: { dataDir }. Install it with ' +
    'npm install @electric-sql/pglite, or give a PostgreSQL database: url (a connection ' +
    'string) or pool (a pg Pool), with pg installed, or typeorm (a TypeORM DataSource).',
  pg:
    'OutboxModule reaches PostgreSQL through it when its options give url, pool or typeorm. ' +
    'Install it with npm install pg, or leave url, pool and typeorm out to run the outbox on ' +
    'embedded PostgreSQL (npm install @electric-sql/pglite).',
};

/**
 * The database driver the options call for is not installed (both are optional peer
 * dependencies); raised at startup.
 */
export class OutboxDriverMissingError extends ConveyorError {
  override readonly name = 'OutboxDriverMissingError';

  constructor(
    readonly packageName: OutboxDriverPackage,
    options?: { cause?: unknown },
  ) {
    super(`${packageName} is not installed. ${WHAT_TO_DO[packageName]}`, options);
  }
}
