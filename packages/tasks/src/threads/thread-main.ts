// The entry of a Conveyor worker thread: boots the app's thread module once, then runs the
// jobs the main thread sends, one at a time, and answers with their outcomes. The main thread
// keeps everything else: locks, limits, retries, results.
import 'reflect-metadata';
import { getHeapStatistics } from 'node:v8';
import { parentPort, workerData } from 'node:worker_threads';
import { type INestApplicationContext, type Logger, Module, type Type } from '@nestjs/common';
import { DiscoveryModule, DiscoveryService, MetadataScanner, NestFactory } from '@nestjs/core';
import type { TaskMetadata } from '../decorators/task.decorator';
import { isTaskRef } from '../define-task';
import type { ThreadModuleRef } from '../interfaces/thread-options.interface';
import { TASK_METADATA } from '../tasks.constants';
import { type ContextJob, TaskContext, type TaskLogger } from '../worker/task-context';
import { THREAD_DATA_KEY } from './thread-env';
import {
  type FromThread,
  fromWire,
  type ThreadJob,
  type ToThread,
  toWire,
  type WireError,
} from './thread-protocol';

type Handler = (payload: unknown, ctx: TaskContext) => unknown;

const port = parentPort!;
const { module: moduleRef } = (workerData as Record<string, { module: ThreadModuleRef }>)[
  THREAD_DATA_KEY
];

const post = (message: FromThread) => port.postMessage(message);
const runs = new Map<number, AbortController>();
let app: INestApplicationContext | undefined;

const booted = boot();
booted.then(
  () => post({ type: 'ready' }),
  (error: unknown) => post({ type: 'boot-failed', error: toWire(error) }),
);

port.on('message', (message: ToThread) => {
  if (message.type === 'run') void run(message.id, message.job, message.payload, message.aborted);
  else if (message.type === 'abort') runs.get(message.id)?.abort(fromWire(message.reason));
  else if (message.type === 'close') void close();
});

/** Boots the module once; its `@Task()` handlers, by task name. */
async function boot(): Promise<Map<string, Handler>> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const exported = (require(moduleRef.path) as Record<string, unknown>)[moduleRef.export];
  // From here on the thread may be terminated safely (see ThreadPool.kill).
  post({ type: 'loaded' });
  if (typeof exported !== 'function') {
    throw new Error(
      `${moduleRef.path} has no export '${moduleRef.export}' that is a Nest module class (threads.module.export)`,
    );
  }
  @Module({ imports: [DiscoveryModule, exported as Type] })
  class ConveyorThreadModule {}
  app = await NestFactory.createApplicationContext(ConveyorThreadModule, {
    logger: ['error', 'warn'],
    abortOnError: false,
  });
  return findHandlers(app);
}

function findHandlers(context: INestApplicationContext): Map<string, Handler> {
  const handlers = new Map<string, Handler>();
  const scanner = new MetadataScanner();
  for (const wrapper of context.get(DiscoveryService).getProviders()) {
    const instance = wrapper.isDependencyTreeStatic() ? (wrapper.instance as object) : undefined;
    if (!instance || wrapper.isAlias) continue;
    const prototype = Object.getPrototypeOf(instance) as Record<string, unknown>;
    if (!prototype || prototype === Object.prototype) continue;
    for (const name of scanner.getAllMethodNames(prototype)) {
      const method = prototype[name];
      if (typeof method !== 'function') continue;
      const metadata = Reflect.getMetadata(TASK_METADATA, method) as TaskMetadata | undefined;
      if (!metadata) continue;
      const task = isTaskRef(metadata.task) ? metadata.task.name : metadata.task;
      handlers.set(task, (method as Handler).bind(instance));
    }
  }
  return handlers;
}

async function run(id: number, job: ThreadJob, payload: unknown, aborted?: WireError) {
  // A module that cannot boot fails the run through 'boot-failed', from the main thread.
  const handlers = await booted.catch(() => undefined);
  if (!handlers) return;
  const controller = new AbortController();
  runs.set(id, controller);
  if (aborted) controller.abort(fromWire(aborted));
  let outcome: FromThread;
  try {
    const handler = handlers.get(job.name);
    if (!handler) {
      throw new Error(
        `no @Task() handler for '${job.name}' in ${moduleRef.export} (${moduleRef.path}), the module the threads boot`,
      );
    }
    const ctx = new ThreadTaskContext(id, job, controller);
    const result = await handler(payload, ctx);
    outcome = { type: 'done', id, ok: true, result, heapMb: heapMb() };
  } catch (error) {
    outcome = { type: 'done', id, ok: false, error: toWire(error), heapMb: heapMb() };
  } finally {
    runs.delete(id);
  }
  try {
    post(outcome);
  } catch (error) {
    // A result that cannot be cloned (a function, a class with private state) fails the run.
    post({ type: 'done', id, ok: false, error: toWire(error), heapMb: heapMb() });
  }
}

async function close(): Promise<void> {
  try {
    await booted;
    await app?.close();
  } finally {
    process.exit(0);
  }
}

function heapMb(): number {
  return getHeapStatistics().used_heap_size / 1_048_576;
}

/** A `TaskContext` whose log lines and progress go to the main thread's run. */
class ThreadTaskContext extends TaskContext {
  private readonly forward: TaskLogger;

  constructor(id: number, job: ThreadJob, controller: AbortController) {
    const contextJob: ContextJob = {
      id: job.id,
      name: job.name,
      attemptsMade: job.attemptsMade,
      opts: { attempts: job.attempts },
      timestamp: job.timestamp,
      updateProgress: (value) => {
        post({ type: 'progress', id, value: value as number | Record<string, unknown> });
        return Promise.resolve();
      },
    };
    // The logger is the main thread's: lines are written there, with the run's fields.
    super(contextJob, job.queue, controller, undefined as unknown as Logger, job.admittedAt);
    this.forward = {
      log: (message, fields) => post({ type: 'log', id, level: 'log', message, fields }),
      warn: (message, fields) => post({ type: 'log', id, level: 'warn', message, fields }),
      debug: (message, fields) => post({ type: 'log', id, level: 'debug', message, fields }),
      error: (message, stack, fields) =>
        post({ type: 'log', id, level: 'error', message, stack, fields }),
    };
  }

  override get log(): TaskLogger {
    return this.forward;
  }
}
