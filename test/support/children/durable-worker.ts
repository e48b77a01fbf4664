// A worker process for the durable-workflow tests: it runs the `durable.*` tasks and the
// Scripted workflow. Short locks, so a killed worker's step comes back within about a second.
import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { TasksModule } from '@conveyor/tasks';
import { closeLedger, DurableTasks, Scripted } from './durable-tasks';

@Module({
  imports: [
    TasksModule.forRoot({
      connection: process.env.REDIS_URL!,
      prefix: process.env.CONVEYOR_PREFIX!,
      queues: {
        default: {
          concurrency: 5,
          lockDuration: 1_000,
          stalledInterval: 500,
          ...(JSON.parse(process.env.QUEUE_OPTIONS ?? '{}') as object),
        },
      },
      workflows: [Scripted],
    }),
  ],
  providers: [DurableTasks],
})
class WorkerModule {}

void NestFactory.createApplicationContext(WorkerModule, { logger: ['error', 'warn'] }).then(
  (app) => {
    app.enableShutdownHooks(['SIGTERM']);
    process.once('exit', () => closeLedger());
    process.stdout.write('READY\n');
  },
);
