// A worker process for the circuit-breaker checker: it runs one task behind a breaker whose
// dependency is down until the test sets `<prefix>:dependency-up`. Every run's start and end
// go to the ledger on the queue's Redis, stamped with Redis TIME (see limits-tasks.ts).
import 'reflect-metadata';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Redis } from 'ioredis';
import { Task, TasksModule } from '@conveyor/tasks';
import { BREAKER_QUEUE, BreakerCall, breakerQueueOptions } from './breaker-tasks';
import { ledgerWriter, type LimitItem } from './limits-tasks';

const redisUrl = process.env.REDIS_URL!;
const prefix = process.env.CONVEYOR_PREFIX!;
const ledger = new Redis(redisUrl, { maxRetriesPerRequest: null });
const mark = ledgerWriter(ledger, prefix);
let runs = 0;

@Injectable()
class Caller {
  @Task(BreakerCall)
  async call(item: LimitItem): Promise<number> {
    const run = `${process.pid}.${++runs}`;
    await mark({
      e: 'start',
      run,
      n: item.n,
      task: BreakerCall.name,
      scope: '',
      pid: process.pid,
      admittedAt: 0,
      local: Date.now(),
    });
    await new Promise((resolve) => setTimeout(resolve, item.ms));
    const up = (await ledger.get(`${prefix}:dependency-up`)) === '1';
    await mark({ e: 'end', run, ...(up ? { ok: true } : {}) });
    if (!up) throw new Error('dependency down');
    return item.n;
  }
}

@Module({
  imports: [
    TasksModule.forRoot({
      connection: redisUrl,
      prefix,
      leaseDuration: '2s',
      shutdownTimeout: '5s',
      queues: { [BREAKER_QUEUE]: breakerQueueOptions },
    }),
  ],
  providers: [Caller],
})
class WorkerModule {}

void NestFactory.createApplicationContext(WorkerModule, { logger: ['error'] }).then((app) => {
  app.enableShutdownHooks(['SIGTERM']);
  process.once('exit', () => ledger.disconnect());
  process.stdout.write(`READY ${process.pid}\n`);
});
