// A tasks-only app for shutdown fault tests: it takes `fault.held` jobs, says so on stdout,
// and holds each one without ever looking at ctx.signal (like a handler stuck on I/O), so
// only the shutdown deadline ends its run. Shutdown hooks are on: SIGTERM is a graceful stop.
import 'reflect-metadata';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Task, type TaskContext, TasksModule } from '@conveyor/tasks';
import { Held } from './held-task';

@Injectable()
class HeldTasks {
  @Task(Held)
  hold(_: { n: number }, ctx: TaskContext): Promise<number> {
    process.stdout.write(`STARTED ${ctx.jobId}\n`);
    return new Promise(() => undefined);
  }
}

@Module({
  imports: [
    TasksModule.forRoot({
      connection: process.env.REDIS_URL!,
      prefix: process.env.CONVEYOR_PREFIX!,
      queues: { default: JSON.parse(process.env.QUEUE_OPTIONS ?? '{}') },
      shutdownTimeout: Number(process.env.SHUTDOWN_TIMEOUT_MS ?? '10000'),
    }),
  ],
  providers: [HeldTasks],
})
class WorkerModule {}

void NestFactory.createApplicationContext(WorkerModule, { logger: ['error', 'warn'] }).then(
  (app) => {
    app.enableShutdownHooks(['SIGTERM']);
    process.stdout.write('READY\n');
  },
);
