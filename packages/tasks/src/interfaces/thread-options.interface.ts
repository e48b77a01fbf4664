import type { Duration } from './duration.interface';

/**
 * Where a task's handler runs: `'inline'` on the worker's own event loop, or `'thread'` in
 * a pool of worker threads (`TasksModule.forRoot({ threads })`), where a CPU-bound handler
 * cannot stall the worker and a hard time limit really stops it.
 */
export type TaskIsolation = 'inline' | 'thread';

/** The Nest module a worker thread boots to find its handlers: a file and its export. */
export interface ThreadModuleRef {
  /**
   * Absolute path of the file that exports the module, as `require` takes it: use
   * `require.resolve('./reports.module')` (the compiled `.js` in production).
   */
  path: string;
  /** The name the module class is exported under, e.g. `'ReportsModule'`. */
  export: string;
}

/**
 * The worker threads that run tasks with `isolation: 'thread'`. Each thread boots `module`
 * once (`NestFactory.createApplicationContext`), so its handlers keep their dependencies,
 * then runs one job at a time until it is recycled.
 */
export interface TaskThreadsOptions {
  /**
   * The module that declares the isolated handlers and their dependencies (not the app's
   * root module: a thread needs no HTTP server, outbox relay or queue workers).
   */
  module: ThreadModuleRef;
  /**
   * Threads at most, started when jobs need them. Jobs beyond it wait for a thread (their
   * time limits run meanwhile). @default the number of cores less one, at least 1
   */
  size?: number;
  /** A thread is replaced after running this many jobs. @default no limit */
  maxTasksPerThread?: number;
  /**
   * A thread is replaced after a job that leaves its V8 heap above this many MiB (garbage
   * not yet collected included). A threshold checked between jobs, not a ceiling: a job that
   * exhausts the heap crashes its thread, which fails that attempt. @default no limit
   */
  maxMemoryPerThread?: number;
  /** An idle thread exits after this long; the next job boots a new one. @default '1m' */
  idleTimeout?: Duration;
  /**
   * Node options of the threads. A thread runs files as Node loads them: to run TypeScript
   * sources in development, give a require hook, e.g. `['-r', '@swc-node/register']`.
   * @default the process's own `execArgv`
   */
  execArgv?: string[];
}
