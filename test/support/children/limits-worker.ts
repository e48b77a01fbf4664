// A worker process for the run-limits checker: it runs every task of limits-tasks.ts, each
// handler sleeping for its payload's duration, and records every run's start (with
// ctx.admittedAt) and end in a ledger on the queue's Redis, stamped with Redis TIME.
// CLOCK_SKEW_MS shifts this process's Date.now(): admission must not depend on it.
import 'reflect-metadata';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Redis } from 'ioredis';
import { type Duration, Task, type TaskContext, TasksModule } from '@conveyor/tasks';
import {
  ledgerWriter,
  LIMITS_QUEUE,
  type LimitItem,
  Lock,
  Pool,
  Rate,
  Singleton,
  TenantOne,
  TenantThree,
} from './limits-tasks';

const skew = Number(process.env.CLOCK_SKEW_MS ?? '0');
if (skew) {
  const realNow = Date.now.bind(Date);
  Date.now = () => realNow() + skew;
}

const redisUrl = process.env.REDIS_URL!;
const prefix = process.env.CONVEYOR_PREFIX!;
// A connection of its own: the ledger never waits behind Conveyor's commands, or they behind it.
const ledger = new Redis(redisUrl, { maxRetriesPerRequest: null });
const mark = ledgerWriter(ledger, prefix);
let runs = 0;

/** Sleeps `ms`, or less if the run's signal aborts (a lost lease): then says why. */
function pause(ms: number, signal: AbortSignal): Promise<string | undefined> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      const reason = signal.reason as Error | undefined;
      resolve(reason?.name ?? String(reason));
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', done);
      resolve(undefined);
    }, ms);
    if (signal.aborted) done();
    else signal.addEventListener('abort', done, { once: true });
  });
}

@Injectable()
class LimitedHandlers {
  private async run(task: string, item: LimitItem, ctx: TaskContext): Promise<void> {
    const run = `${process.pid}.${++runs}`;
    await mark({
      e: 'start',
      run,
      n: item.n,
      task,
      scope: item.key,
      pid: process.pid,
      admittedAt: ctx.admittedAt!.getTime(),
      local: Date.now(),
    });
    const stopped = await pause(item.ms, ctx.signal);
    if (stopped) await mark({ e: 'lost', run, reason: stopped });
    await mark({ e: 'end', run });
  }

  @Task(Singleton)
  singleton(item: LimitItem, ctx: TaskContext) {
    return this.run(Singleton.name, item, ctx);
  }

  @Task(Lock)
  lock(item: LimitItem, ctx: TaskContext) {
    return this.run(Lock.name, item, ctx);
  }

  @Task(TenantOne)
  tenantOne(item: LimitItem, ctx: TaskContext) {
    return this.run(TenantOne.name, item, ctx);
  }

  @Task(TenantThree)
  tenantThree(item: LimitItem, ctx: TaskContext) {
    return this.run(TenantThree.name, item, ctx);
  }

  @Task(Pool)
  pool(item: LimitItem, ctx: TaskContext) {
    return this.run(Pool.name, item, ctx);
  }

  @Task(Rate)
  rate(item: LimitItem, ctx: TaskContext) {
    return this.run(Rate.name, item, ctx);
  }
}

@Module({
  imports: [
    TasksModule.forRoot({
      connection: redisUrl,
      prefix,
      leaseDuration: (process.env.LEASE_DURATION ?? '2s') as Duration,
      shutdownTimeout: '5s',
      queues: { [LIMITS_QUEUE]: JSON.parse(process.env.QUEUE_OPTIONS ?? '{}') },
    }),
  ],
  providers: [LimitedHandlers],
})
class WorkerModule {}

void NestFactory.createApplicationContext(WorkerModule, { logger: ['error'] }).then((app) => {
  // SIGTERM is a graceful stop (the test's last one); SIGKILL a crash.
  app.enableShutdownHooks(['SIGTERM']);
  process.once('exit', () => ledger.disconnect());
  process.stdout.write(`READY ${process.pid}\n`);
});
