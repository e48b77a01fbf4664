import { Injectable, type Provider } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import {
  defineTask,
  type StepFailure,
  Task,
  TaskContext,
  TaskProducer,
  UnrecoverableTaskError,
} from '@conveyor/tasks';
import { ConveyorTestingModule } from './conveyor-testing.module';
import type { ConveyorTestingOptions } from './testing-options';
import { TestTasks } from './test-tasks';

// Tasks whose handlers record what they were called with, shared by the specs of this package.

export const Add = defineTask<{ a: number; b: number }, number>('add');
export const Flaky = defineTask<{ failures: number }, string>('flaky', {
  attempts: 3,
  backoff: { type: 'exponential', delay: '1s', jitter: 0 },
});
export const Refuse = defineTask<{ why: string }, never>('refuse', { attempts: 5 });
export const Picky = defineTask<{ code: number }, never>('picky', {
  attempts: 4,
  retryIf: (error) => !error.message.includes('400'),
});
export const Stamp = defineTask<{ at: string; extra?: unknown }, { at: Date; seen: string }>(
  'stamp',
);
export const Charge = defineTask<{ orderId: string }, string>('charge', {
  idempotent: true,
  circuitBreaker: { name: 'payments', failureThreshold: 5, window: '1m', cooldown: '1m' },
});
export const Slow = defineTask<{ ms: number }, string>('slow', { hardTimeout: '30ms' });
export const Fanout = defineTask<{ n: number }, number>('fanout');
export const Log = defineTask<{ label: string }, string>('log');
export const Sum = defineTask<Array<number | StepFailure>, number>('sum');
export const Double = defineTask<number, number>('double');
export const Boom = defineTask<number, never>('boom');

@Injectable()
export class Handlers {
  readonly calls: Array<{ task: string; payload: unknown; attempt: number }> = [];

  @Task(Add)
  add({ a, b }: { a: number; b: number }, ctx: TaskContext): number {
    this.record('add', { a, b }, ctx);
    return a + b;
  }

  @Task(Flaky)
  flaky({ failures }: { failures: number }, ctx: TaskContext): string {
    this.record('flaky', { failures }, ctx);
    if (ctx.attempt <= failures) throw new Error(`failure ${ctx.attempt}`);
    return `ok on ${ctx.attempt}`;
  }

  @Task(Refuse)
  refuse({ why }: { why: string }, ctx: TaskContext): never {
    this.record('refuse', { why }, ctx);
    throw new UnrecoverableTaskError(why);
  }

  @Task(Picky)
  picky({ code }: { code: number }, ctx: TaskContext): never {
    this.record('picky', { code }, ctx);
    throw new Error(`HTTP ${code}`);
  }

  @Task(Stamp)
  stamp(payload: { at: string; extra?: unknown }, ctx: TaskContext) {
    this.record('stamp', payload, ctx);
    return { at: new Date(payload.at), seen: typeof payload.extra };
  }

  @Task(Charge)
  charge({ orderId }: { orderId: string }, ctx: TaskContext): string {
    this.record('charge', { orderId }, ctx);
    return `charged ${orderId}`;
  }

  @Task(Slow)
  async slow({ ms }: { ms: number }, ctx: TaskContext): Promise<string> {
    this.record('slow', { ms }, ctx);
    // Stops when its signal aborts (the hard time limit), leaving no timer behind.
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      ctx.signal.addEventListener('abort', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    return 'done';
  }

  @Task(Double)
  double(n: number, ctx: TaskContext): number {
    this.record('double', n, ctx);
    return n * 2;
  }

  @Task(Sum)
  sum(values: Array<number | StepFailure>, ctx: TaskContext): number {
    this.record('sum', values, ctx);
    return values.reduce<number>((total, v) => total + (typeof v === 'number' ? v : 0), 0);
  }

  @Task(Boom)
  boom(n: number, ctx: TaskContext): never {
    this.record('boom', n, ctx);
    throw new Error(`boom ${n}`);
  }

  record(task: string, payload: unknown, ctx: TaskContext): void {
    this.calls.push({ task, payload, attempt: ctx.attempt });
  }
}

/** Enqueues from inside a handler, to see nested jobs run. */
@Injectable()
export class Nested {
  constructor(private readonly producer: TaskProducer) {}

  @Task(Fanout)
  async fanout({ n }: { n: number }): Promise<number> {
    for (let i = 0; i < n; i++) await this.producer.enqueue(Log, { label: `child ${i}` });
    return n;
  }

  @Task(Log)
  log({ label }: { label: string }): string {
    return label;
  }
}

export interface Testbed {
  moduleRef: TestingModule;
  producer: TaskProducer;
  tasks: TestTasks;
  handlers: Handlers;
}

export async function testbed(
  options: ConveyorTestingOptions = {},
  providers: Provider[] = [],
): Promise<Testbed> {
  const moduleRef = await Test.createTestingModule({
    imports: [ConveyorTestingModule.forRoot(options)],
    providers: [Handlers, Nested, ...providers],
  }).compile();
  moduleRef.useLogger(false);
  await moduleRef.init();
  return {
    moduleRef,
    producer: moduleRef.get(TaskProducer),
    tasks: moduleRef.get(TestTasks),
    handlers: moduleRef.get(Handlers),
  };
}
