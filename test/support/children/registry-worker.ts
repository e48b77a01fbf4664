// A worker-only app for the worker registry tests: it consumes `registry` (Held jobs, which
// run until cancelled), beats every 250 ms, and with PROBE=1 serves the probe on a free port.
// It prints `READY <pid>` once its workers run and `PROBE <port>` when it has a probe.
import 'reflect-metadata';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Task, type TaskContext, TasksModule } from '@conveyor/tasks';
import { WorkerProbe } from '@conveyor/tasks/internal';
import { Held } from './registry-task';

@Injectable()
class HeldTasks {
  @Task(Held)
  hold(_: { n: number }, ctx: TaskContext): Promise<void> {
    process.stdout.write(`STARTED ${ctx.jobId}\n`);
    return new Promise((_resolve, reject) => {
      ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason as Error));
    });
  }
}

@Module({
  imports: [
    TasksModule.forRoot({
      connection: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
      prefix: process.env.CONVEYOR_PREFIX!,
      queues: { registry: { concurrency: 3 } },
      heartbeat: { interval: '250ms', ttl: process.env.HEARTBEAT_TTL ?? '3s' },
      ...(process.env.PROBE === '1' ? { probe: { port: 0, host: '127.0.0.1' } } : {}),
    }),
  ],
  providers: [HeldTasks],
})
class WorkerModule {}

void NestFactory.createApplicationContext(WorkerModule, { logger: ['error', 'warn'] }).then(
  (app) => {
    app.enableShutdownHooks(['SIGTERM']);
    const probe = app.get(WorkerProbe).address;
    if (probe) process.stdout.write(`PROBE ${probe.port}\n`);
    process.stdout.write(`READY ${process.pid}\n`);
  },
);
