import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Test } from '@nestjs/testing';
import { TransactionHost } from '@nestjs-cls/transactional';
import {
  InvalidOutboxOptionsError,
  Outbox,
  OutboxModule,
  OutboxRelay,
  type OutboxTransactionalAdapter,
} from '@conveyor/outbox';
import { TasksModule } from '@conveyor/tasks';
import { DATABASE_URL, openSql, uniqueTable } from '../support/outbox-app';
import { deletePrefix, REDIS_URL, uniquePrefix } from '../support/redis';
import { OrderTasks, Seen, SendConfirmation } from './fixtures';

describe('OutboxModule configuration', () => {
  it('is configured through forRootAsync with an injected factory', async () => {
    const prefix = uniquePrefix();
    const table = uniqueTable();
    const CONFIG = Symbol('CONFIG');
    const moduleRef = await Test.createTestingModule({
      imports: [
        TasksModule.forRoot({ connection: REDIS_URL, prefix, workers: 'none' }),
        OutboxModule.forRootAsync({
          useFactory: async (config: { url: string }) => ({
            url: config.url,
            table,
            createTable: true,
          }),
          inject: [CONFIG],
          imports: [
            {
              module: class ConfigModule {},
              providers: [{ provide: CONFIG, useValue: { url: DATABASE_URL } }],
              exports: [CONFIG],
            },
          ],
        }),
      ],
      providers: [Seen, OrderTasks],
    }).compile();
    moduleRef.useLogger(false);
    const sql = await openSql('postgres');
    try {
      await moduleRef.init();
      const txHost = moduleRef.get<TransactionHost<OutboxTransactionalAdapter>>(TransactionHost);
      const { jobId } = await txHost.withTransaction(() =>
        moduleRef.get(Outbox).enqueue(SendConfirmation, { orderId: 'async' }),
      );
      expect(jobId).toMatch(/^outbox-\d+$/);
      expect(await moduleRef.get(OutboxRelay).drain()).toBe(1);
    } finally {
      await moduleRef.close();
      await sql.query(`DROP TABLE IF EXISTS "${table}"`);
      await sql.close();
      await deletePrefix(prefix);
    }
  });

  it('fails at startup with an error naming a mistyped option', async () => {
    const attempt = Test.createTestingModule({
      imports: [
        TasksModule.forRoot({ connection: REDIS_URL, prefix: uniquePrefix(), workers: 'none' }),
        OutboxModule.forRoot({ tabel: 'x' } as never),
      ],
    }).compile();
    await expect(attempt).rejects.toBeInstanceOf(InvalidOutboxOptionsError);
    await expect(attempt).rejects.toThrow(/did you mean 'table'/);
  });

  it('keeps rows in a PGlite data folder it creates, across a restart', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'conveyor-outbox-'));
    const prefix = uniquePrefix();
    const boot = async () => {
      const moduleRef = await Test.createTestingModule({
        imports: [
          TasksModule.forRoot({ connection: REDIS_URL, prefix, workers: 'none' }),
          OutboxModule.forRoot({ pglite: { dataDir } }),
        ],
        providers: [Seen, OrderTasks],
      }).compile();
      moduleRef.useLogger(false);
      await moduleRef.init();
      return moduleRef;
    };
    try {
      const first = await boot();
      const txHost = first.get<TransactionHost<OutboxTransactionalAdapter>>(TransactionHost);
      await txHost.withTransaction(() =>
        first.get(Outbox).enqueue(SendConfirmation, { orderId: 'kept' }),
      );
      // Rows survive a restart on the same folder (the module wrote them through and closed it).
      await first.close();
      const second = await boot();
      try {
        expect(await second.get(OutboxRelay).stats()).toMatchObject({ pending: 1 });
        expect(await second.get(OutboxRelay).drain()).toBe(1);
      } finally {
        await second.close();
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
      await deletePrefix(prefix);
    }
  });
});
