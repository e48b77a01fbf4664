import { availableParallelism } from 'node:os';
import { isAbsolute } from 'node:path';
import {
  checkInteger,
  checkKnownKeys,
  checkObject,
  describe,
  type Fail,
  parseDuration,
} from './validation';

const THREADS_KEYS = [
  'module',
  'size',
  'maxTasksPerThread',
  'maxMemoryPerThread',
  'idleTimeout',
  'execArgv',
];

/** `threads` checked, with its defaults applied. */
export interface ResolvedThreadOptions {
  module: { path: string; export: string };
  size: number;
  maxTasksPerThread?: number;
  maxMemoryPerThreadMb?: number;
  idleTimeoutMs: number;
  execArgv?: string[];
}

export const DEFAULT_THREAD_IDLE_MS = 60_000;

/** Checks `TasksModule.forRoot({ threads })`; `undefined` when the app runs no threads. */
export function resolveThreadOptions(
  value: unknown,
  fail: Fail,
  cores = availableParallelism(),
): ResolvedThreadOptions | undefined {
  if (value === undefined) return undefined;
  const t = checkObject(value, 'threads', fail);
  checkKnownKeys(t, THREADS_KEYS, 'threads', fail);
  const m = checkObject(t.module, 'threads.module', fail);
  checkKnownKeys(m, ['path', 'export'], 'threads.module', fail);
  if (typeof m.path !== 'string' || !isAbsolute(m.path)) {
    fail(
      `threads.module.path must be an absolute file path (use require.resolve('./reports.module')), got ${describe(m.path)}`,
    );
  }
  if (typeof m.export !== 'string' || m.export === '') {
    fail(
      `threads.module.export must name the module class the file exports (e.g. 'ReportsModule'), got ${describe(m.export)}`,
    );
  }
  if (
    t.execArgv !== undefined &&
    (!Array.isArray(t.execArgv) || t.execArgv.some((arg) => typeof arg !== 'string'))
  ) {
    fail(`threads.execArgv must be a list of strings, got ${describe(t.execArgv)}`);
  }
  return {
    module: { path: m.path as string, export: m.export as string },
    size:
      t.size === undefined
        ? Math.max(1, cores - 1)
        : checkInteger(t.size, 'threads.size', 1, 1024, fail),
    maxTasksPerThread:
      t.maxTasksPerThread === undefined
        ? undefined
        : checkInteger(t.maxTasksPerThread, 'threads.maxTasksPerThread', 1, 1e9, fail),
    maxMemoryPerThreadMb:
      t.maxMemoryPerThread === undefined
        ? undefined
        : checkInteger(t.maxMemoryPerThread, 'threads.maxMemoryPerThread', 1, 1_048_576, fail),
    idleTimeoutMs:
      t.idleTimeout === undefined
        ? DEFAULT_THREAD_IDLE_MS
        : parseDuration(t.idleTimeout, 'threads.idleTimeout', fail),
    execArgv: t.execArgv as string[] | undefined,
  };
}
