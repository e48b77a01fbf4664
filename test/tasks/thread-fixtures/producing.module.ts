// A thread module that imports TasksModule, so its handler can enqueue: in a thread,
// TasksModule lends its providers and consumes no queue. Its prefix, the test's, comes from
// the thread's environment.
import { threadId } from 'node:worker_threads';
import { Injectable, Module } from '@nestjs/common';
import { defineTask, Task, TaskProducer, TasksModule } from '@conveyor/tasks';

export const PREFIX_VARIABLE = 'CONVEYOR_THREAD_TEST_PREFIX';
export const FollowUp = defineTask<{ from: number }, { from: number; ranIn: number }>(
  'thread.follow-up',
);
export const Produce = defineTask<Record<string, never>, string>('thread.produce', {
  isolation: 'thread',
});

@Injectable()
export class ProducingTasks {
  constructor(private readonly producer: TaskProducer) {}

  @Task(Produce)
  async produce(): Promise<string> {
    return (await this.producer.enqueue(FollowUp, { from: threadId })).id;
  }

  @Task(FollowUp)
  followUp({ from }: { from: number }): { from: number; ranIn: number } {
    return { from, ranIn: threadId };
  }
}

@Module({
  imports: [
    TasksModule.forRootAsync({
      useFactory: () => ({
        connection: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
        // Never the default prefix: a thread without the variable must fail, not write there.
        prefix: process.env[PREFIX_VARIABLE] ?? 'unset!',
      }),
    }),
  ],
  providers: [ProducingTasks],
})
export class ProducingThreadModule {}
