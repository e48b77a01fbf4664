// The module the worker threads of threads.e2e-spec.ts boot. The test app registers the same
// handlers in the main thread (so it consumes their queue); their jobs run in the threads.
import { threadId } from 'node:worker_threads';
import { Injectable, Module } from '@nestjs/common';
import { defineTask, Task, type TaskContext } from '@conveyor/tasks';

export const WhereAmI = defineTask<
  Record<string, never>,
  { threadId: number; greeting: string; boots: number }
>('thread.where', { isolation: 'thread' });
export const Spin = defineTask<Record<string, never>, string>('thread.spin', {
  isolation: 'thread',
  hardTimeout: 300,
});
export const Forever = defineTask<Record<string, never>, string>('thread.forever', {
  isolation: 'thread',
});
export const Hasty = defineTask<Record<string, never>, number>('thread.hasty', {
  isolation: 'thread',
  hardTimeout: 1,
});
export const OneAtATime = defineTask<{ spin: boolean }, number>('thread.one-at-a-time', {
  isolation: 'thread',
  singleton: true,
  hardTimeout: 1_000,
});
export const Grow = defineTask<{ mib: number }, number>('thread.grow', { isolation: 'thread' });
export const Crash = defineTask<Record<string, never>, number>('thread.crash', {
  isolation: 'thread',
  attempts: 2,
  backoff: { type: 'fixed', delay: 10 },
});
export const Polite = defineTask<Record<string, never>, string>('thread.polite', {
  isolation: 'thread',
  timeout: 100,
});

/** A provider the handlers get by injection, as in any Nest module. */
@Injectable()
export class Greeter {
  greet(who: string): string {
    return `hello from the ${who}`;
  }
}

// How many times this module's handler class was built in this thread (once per boot).
let boots = 0;
const retained: number[][] = [];

@Injectable()
export class ThreadTasks {
  constructor(private readonly greeter: Greeter) {
    boots++;
  }

  @Task(WhereAmI)
  async where(_: unknown, ctx: TaskContext) {
    ctx.log.log('running in a thread');
    await ctx.progress(50);
    return { threadId, greeting: this.greeter.greet('thread'), boots };
  }

  @Task(Spin)
  spin(): string {
    // CPU-bound and deaf to its signal: only terminating the thread stops it.
    for (;;) {
      /* spin */
    }
  }

  @Task(Forever)
  forever(): string {
    for (;;) {
      /* spin, with no time limit */
    }
  }

  @Task(Hasty)
  hasty(): number {
    return threadId;
  }

  @Task(OneAtATime)
  oneAtATime({ spin }: { spin: boolean }): number {
    while (spin) {
      /* spin until the thread is terminated */
    }
    return threadId;
  }

  @Task(Grow)
  grow({ mib }: { mib: number }): number {
    // 131,072 doubles are 1 MiB, kept alive by the module: the heap stays above the threshold.
    for (let i = 0; i < mib; i++) retained.push(new Array<number>(131_072).fill(1.5));
    return threadId;
  }

  @Task(Crash)
  crash(_: unknown, ctx: TaskContext): Promise<number> | number {
    if (ctx.attempt > 1) return threadId;
    // An error nothing catches ends the thread, as it would end a process.
    setImmediate(() => {
      throw new Error('the thread blew up');
    });
    return new Promise<number>(() => undefined);
  }

  @Task(Polite)
  async polite(_: unknown, ctx: TaskContext): Promise<string> {
    await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve()));
    const reason = ctx.signal.reason as { name: string; kind: string };
    return `${reason.name} (${reason.kind})`;
  }
}

@Module({ providers: [Greeter, ThreadTasks] })
export class ThreadTasksModule {}
