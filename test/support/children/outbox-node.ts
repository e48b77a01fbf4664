// An outbox process for the fault suite, on a private PostgreSQL (DATABASE_URL) and Redis
// (REDIS_URL). ROLE=relay runs the relay only; ROLE=committer commits COUNT outbox events,
// one transaction each starting at FROM (PACE_MS apart), retrying a failed transaction, and prints
// `COMMITTED <n>` only once its commit has resolved (so the test knows which commits were
// acknowledged), then `DONE`. RELAY_OPTIONS (JSON) overrides the relay's options;
// REPORT_STATS=1 makes a relay print `RELAY_STATS {…}` whenever its stats change.
import 'reflect-metadata';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { TransactionHost } from '@nestjs-cls/transactional';
import {
  Outbox,
  OutboxModule,
  OutboxRelay,
  type OutboxTransactionalAdapter,
} from '@conveyor/outbox';
import { Task, TasksModule } from '@conveyor/tasks';
import { type LedgerItem, LedgerTask } from './ledger-task';

const role = process.env.ROLE === 'relay' ? 'relay' : 'committer';

/** Registers the task in this app; workers are off, so it never runs here. */
@Injectable()
class LedgerTasks {
  @Task(LedgerTask)
  record({ n }: LedgerItem): number {
    return n;
  }
}

@Module({
  imports: [
    TasksModule.forRoot({
      connection: process.env.REDIS_URL!,
      prefix: process.env.CONVEYOR_PREFIX!,
      workers: 'none',
    }),
    OutboxModule.forRoot({
      url: process.env.DATABASE_URL!,
      table: process.env.OUTBOX_TABLE!,
      createTable: true,
      relay:
        role === 'relay'
          ? {
              batchSize: Number(process.env.BATCH_SIZE ?? '50'),
              pollInterval: '50ms',
              retryDelay: '100ms',
              maxBackoff: '500ms',
              // A killed relay's rows come back after 2 s, not the default 30 s.
              publishTimeout: '1s',
              lease: '2s',
              ...(JSON.parse(process.env.RELAY_OPTIONS ?? '{}') as object),
            }
          : false,
    }),
  ],
  providers: [LedgerTasks],
})
class OutboxNodeModule {}

async function commitAll(
  txHost: TransactionHost<OutboxTransactionalAdapter>,
  outbox: Outbox,
): Promise<void> {
  const from = Number(process.env.FROM ?? '0');
  const count = Number(process.env.COUNT ?? '0');
  const pace = Number(process.env.PACE_MS ?? '0');
  for (let n = from; n < from + count; n += 1) {
    for (;;) {
      try {
        await txHost.withTransaction(() => outbox.enqueue(LedgerTask, { n }));
        process.stdout.write(`COMMITTED ${n}\n`);
        if (pace) await new Promise((resolve) => setTimeout(resolve, pace));
        break;
      } catch {
        process.stdout.write(`RETRY ${n}\n`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  }
  process.stdout.write('DONE\n');
}

/** Prints the relay's stats each time they change, so a test can wait on its state. */
function reportStats(relay: OutboxRelay): void {
  let last = '';
  const timer = setInterval(() => {
    relay.stats().then(
      (stats) => {
        const line = JSON.stringify(stats);
        if (line === last) return;
        last = line;
        process.stdout.write(`RELAY_STATS ${line}\n`);
      },
      () => undefined, // the database is away; the next look reports
    );
  }, 100);
  timer.unref();
}

void NestFactory.createApplicationContext(OutboxNodeModule, { logger: ['error'] }).then(
  async (app) => {
    app.enableShutdownHooks(['SIGTERM']);
    process.stdout.write('READY\n');
    if (role === 'relay' && process.env.REPORT_STATS === '1') reportStats(app.get(OutboxRelay));
    if (role === 'committer') {
      await commitAll(
        app.get<TransactionHost<OutboxTransactionalAdapter>>(TransactionHost),
        app.get(Outbox),
      );
    }
  },
);
