// A worker process for the fault suite: it runs `fault.ledger` jobs from the queue Redis
// (REDIS_URL) and records each run in a ledger on another Redis (LEDGER_URL) that the faults
// leave alone. Shutdown hooks are on, so SIGTERM is a graceful stop and SIGKILL a crash.
import 'reflect-metadata';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Redis } from 'ioredis';
import { Task, type TaskContext, TasksModule } from '@conveyor/tasks';
import { type LedgerItem, ledgerKeys, LedgerTask } from './ledger-task';

const prefix = process.env.CONVEYOR_PREFIX!;
const workMs = Number(process.env.WORK_MS ?? '0');
const ledger = new Redis(process.env.LEDGER_URL ?? 'redis://127.0.0.1:6379', {
  maxRetriesPerRequest: null,
});
const keys = ledgerKeys(prefix);

@Injectable()
class LedgerTasks {
  @Task(LedgerTask)
  async record({ n, poison }: LedgerItem, ctx: TaskContext): Promise<number> {
    if (poison) throw new Error(`poison item ${n}`);
    if (workMs) await new Promise((resolve) => setTimeout(resolve, workMs));
    // The effect is idempotent (a set member); the run counter shows how often it was applied.
    await ledger.multi().hincrby(keys.runs, String(n), 1).sadd(keys.done, String(n)).exec();
    return ctx.attempt;
  }
}

@Module({
  imports: [
    TasksModule.forRoot({
      connection: process.env.REDIS_URL!,
      prefix,
      queues: { default: JSON.parse(process.env.QUEUE_OPTIONS ?? '{}') },
      shutdownTimeout: Number(process.env.SHUTDOWN_TIMEOUT_MS ?? '10000'),
    }),
  ],
  providers: [LedgerTasks],
})
class WorkerModule {}

void NestFactory.createApplicationContext(WorkerModule, { logger: ['error'] }).then((app) => {
  app.enableShutdownHooks(['SIGTERM']);
  process.once('exit', () => ledger.disconnect());
  process.stdout.write('READY\n');
});
