import { randomUUID } from 'node:crypto';
import type { DynamicModule, INestApplication, Provider, Type } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import type { PGlite } from '@electric-sql/pglite';
import { OutboxModule, type OutboxModuleOptions } from '@conveyor/outbox';
import { TasksModule, type TasksModuleOptions } from '@conveyor/tasks';
import { Client } from 'pg';
import { deletePrefix, REDIS_URL, uniquePrefix } from './redis';

export const DATABASE_URL = process.env.DATABASE_URL ?? 'postgresql://root@127.0.0.1:5432/test';

/** Which database a suite runs on: the real PostgreSQL, or an in-process PGlite. */
export type Backend = 'postgres' | 'pglite';

/** Plain SQL against the test database, outside any app: to look at and clean up tables. */
export interface Sql {
  query<R = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<R[]>;
  close(): Promise<void>;
}

export async function openSql(backend: Backend, pglite?: PGlite): Promise<Sql> {
  if (backend === 'pglite') {
    return {
      query: async <R>(sql: string, params?: unknown[]) =>
        (await pglite!.query<R>(sql, params)).rows,
      close: async () => undefined,
    };
  }
  const client = new Client({ connectionString: DATABASE_URL });
  await client.connect();
  return {
    query: async <R>(sql: string, params?: unknown[]) =>
      (await client.query(sql, params)).rows as R[],
    close: () => client.end(),
  };
}

/** A table name no other test uses. */
export function uniqueTable(): string {
  return `outbox_${randomUUID().slice(0, 8)}`;
}

export interface OutboxTestApp {
  app: INestApplication;
  url: string;
  prefix: string;
  table: string;
  get<T>(type: Type<T> | symbol): T;
  close(): Promise<void>;
}

export interface OutboxAppOptions {
  backend: Backend;
  pglite?: PGlite;
  table?: string;
  prefix?: string;
  outbox?: Partial<OutboxModuleOptions>;
  tasks?: Partial<TasksModuleOptions>;
  controllers?: Type[];
  providers?: Provider[];
  /** More modules for the app (health, metrics …). */
  imports?: DynamicModule[];
}

/**
 * Boots an HTTP Nest app with `TasksModule` (real Redis, own prefix) and `OutboxModule`
 * (own table on the real PostgreSQL or on the given PGlite), listening on a free port.
 */
export async function startOutboxApp(options: OutboxAppOptions): Promise<OutboxTestApp> {
  const prefix = options.prefix ?? uniquePrefix();
  const table = options.table ?? uniqueTable();
  const database: Partial<OutboxModuleOptions> =
    options.backend === 'postgres' ? { url: DATABASE_URL } : { pglite: options.pglite };
  const moduleRef = await Test.createTestingModule({
    imports: [
      TasksModule.forRoot({ connection: REDIS_URL, ...options.tasks, prefix }),
      OutboxModule.forRoot({ ...database, table, createTable: true, ...options.outbox }),
      ...(options.imports ?? []),
    ],
    controllers: options.controllers ?? [],
    providers: options.providers ?? [],
  }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  await app.listen(0, '127.0.0.1');
  const url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  let closed = false;
  return {
    app,
    url,
    prefix,
    table,
    get: <T>(type: Type<T> | symbol) => app.get<T>(type as Type<T>),
    close: async () => {
      if (closed) return;
      closed = true;
      await app.close();
    },
  };
}

/** Closes the apps, drops their tables, and removes every Redis key their prefixes wrote. */
export async function stopOutboxApps(sql: Sql, ...apps: (OutboxTestApp | undefined)[]) {
  const started = apps.filter(Boolean) as OutboxTestApp[];
  await Promise.all(started.map((app) => app.close()));
  for (const table of new Set(started.map((app) => app.table))) {
    await sql.query(`DROP TABLE IF EXISTS "${table}"`);
  }
  await Promise.all([...new Set(started.map((app) => app.prefix))].map(deletePrefix));
}

export async function postJson(
  url: string,
  body: unknown,
): Promise<{ status: number; body: unknown }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}
