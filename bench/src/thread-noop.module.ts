// The module the worker threads of the `threads` bench scenario boot: one no-op handler.
// The bench app registers the same handler in the main thread, so it consumes the queue.
import { Injectable, Module } from '@nestjs/common';
import { defineTask, Task } from '@conveyor/tasks';

export const THREAD_QUEUE = 'bench-threads';
export const InlineNoop = defineTask<{ i: number }, void>('bench.inline-noop', {
  queue: THREAD_QUEUE,
});
export const ThreadNoop = defineTask<{ i: number }, void>('bench.thread-noop', {
  queue: THREAD_QUEUE,
  isolation: 'thread',
});

@Injectable()
export class NoopTasks {
  @Task(InlineNoop)
  async inline(): Promise<void> {}

  @Task(ThreadNoop)
  async thread(): Promise<void> {}
}

@Module({ providers: [NoopTasks] })
export class ThreadNoopModule {}
