// A worker process for fault tests: it takes jobs of `fault.hang`, says so on stdout, and
// never finishes them, so the test can kill it mid-job.
import 'reflect-metadata';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Task, type TaskContext, TasksModule } from '@conveyor/tasks';
import { Hang } from './hanging-worker-task';

@Injectable()
class HangTasks {
  @Task(Hang)
  hang(_: { n: number }, ctx: TaskContext): Promise<string> {
    process.stdout.write(`STARTED ${ctx.jobId}\n`);
    return new Promise(() => undefined);
  }
}

@Module({
  imports: [
    TasksModule.forRoot({
      connection: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
      prefix: process.env.CONVEYOR_PREFIX!,
      queues: { default: JSON.parse(process.env.QUEUE_OPTIONS ?? '{}') },
    }),
  ],
  providers: [HangTasks],
})
class WorkerModule {}

void NestFactory.createApplicationContext(WorkerModule, { logger: false }).then(() => {
  process.stdout.write('READY\n');
});
