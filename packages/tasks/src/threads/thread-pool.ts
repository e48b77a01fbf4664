import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { TaskThreadError } from '../errors';
import { CLOSE_GRACE_MS } from '../lifecycle/settle-within';
import type { LogFields } from '../logging/conveyor-logger';
import type { ResolvedThreadOptions } from '../options/thread-options';
import { THREAD_DATA_KEY } from './thread-env';
import {
  type FromThread,
  fromWire,
  type ThreadJob,
  type ToThread,
  toWire,
} from './thread-protocol';

/** What a handler in a thread reports while it runs. */
export interface ThreadRunEvents {
  log(
    level: 'log' | 'warn' | 'error' | 'debug',
    message: string,
    stack?: string,
    fields?: LogFields,
  ): void;
  progress(value: number | Record<string, unknown>): void;
}

/** One job given to the pool. */
export interface ThreadCall {
  /** Settles with the handler's outcome, or rejects once the handler has truly stopped. */
  readonly done: Promise<unknown>;
  /** Aborts the handler's `ctx.signal` with `reason` (it decides how to stop). */
  abort(reason: unknown): void;
  /** Stops the handler now: its thread is terminated; `done` rejects with `reason` once it has. */
  stop(reason: unknown): void;
}

interface Call {
  id: number;
  taskName: string;
  job: ThreadJob;
  payload: unknown;
  events: ThreadRunEvents;
  resolve(value: unknown): void;
  reject(error: unknown): void;
  aborted?: unknown;
  stopped?: { reason: unknown };
  thread?: PooledThread;
  settled: boolean;
}

interface PooledThread {
  worker: Worker;
  exited: Promise<void>;
  call?: Call;
  tasksRun: number;
  idleTimer?: NodeJS.Timeout;
  /** True once the thread has loaded its code: terminating it before may abort the process. */
  loaded: boolean;
  killWhenLoaded?: boolean;
  bootError?: Error;
  crash?: Error;
}

/** How long a thread may take to load its code before it is terminated all the same. */
const LOAD_GRACE_MS = 10_000;

/**
 * The entry a thread runs: the compiled `thread-main.js` beside this file, or, when the
 * package runs from its TypeScript sources (tests, a dev server), `thread-main.ts`, which
 * needs a require hook in `threads.execArgv`.
 */
export function threadEntry(dir = __dirname): string {
  const compiled = join(dir, 'thread-main.js');
  return existsSync(compiled) ? compiled : join(dir, 'thread-main.ts');
}

/**
 * Worker threads that run one job at a time each. Threads start on demand up to `size`, boot
 * the thread module once, and are replaced after `maxTasksPerThread` jobs, after a job that
 * leaves their heap above `maxMemoryPerThread`, when they crash, and when they idle past
 * `idleTimeout`. Jobs beyond `size` wait in line, first come first served.
 */
export class ThreadPool {
  private readonly threads = new Set<PooledThread>();
  private readonly idle: PooledThread[] = [];
  private readonly waiting: Call[] = [];
  private readonly leaving = new Set<Promise<void>>();
  private nextId = 1;
  private closed = false;

  constructor(
    private readonly options: ResolvedThreadOptions,
    private readonly entry = threadEntry(),
  ) {}

  /** Threads alive now (booting, busy or idle). */
  get threadCount(): number {
    return this.threads.size;
  }

  run(taskName: string, job: ThreadJob, payload: unknown, events: ThreadRunEvents): ThreadCall {
    let call!: Call;
    const done = new Promise<unknown>((resolve, reject) => {
      call = { id: this.nextId++, taskName, job, payload, events, resolve, reject, settled: false };
    });
    if (this.closed) {
      settle(call, false, new TaskThreadError(taskName, 'the thread pool is closed'));
    } else {
      this.waiting.push(call);
      this.dispatch();
    }
    return {
      done,
      abort: (reason) => this.abort(call, reason),
      stop: (reason) => this.stop(call, reason),
    };
  }

  /** Ends every thread: idle ones close their module, busy ones are terminated. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    for (const call of this.waiting.splice(0)) {
      settle(
        call,
        false,
        new TaskThreadError(call.taskName, 'the thread pool closed before the job started'),
      );
    }
    for (const thread of [...this.threads]) {
      if (thread.call) this.terminate(thread);
      else this.retire(thread);
    }
    await Promise.all(this.leaving);
  }

  private dispatch(): void {
    while (this.waiting.length && !this.closed) {
      const thread =
        this.idle.pop() ?? (this.threads.size < this.options.size ? this.spawn() : undefined);
      if (!thread) return;
      this.assign(thread, this.waiting.shift()!);
    }
  }

  private assign(thread: PooledThread, call: Call): void {
    clearTimeout(thread.idleTimer);
    thread.call = call;
    call.thread = thread;
    const message: ToThread = { type: 'run', id: call.id, job: call.job, payload: call.payload };
    if (call.aborted !== undefined) message.aborted = toWire(call.aborted);
    thread.worker.postMessage(message);
  }

  private spawn(): PooledThread {
    const worker = new Worker(this.entry, {
      workerData: { [THREAD_DATA_KEY]: { module: this.options.module } },
      ...(this.options.execArgv ? { execArgv: this.options.execArgv } : {}),
    });
    // Not unref()'d, even when idle: a worker-only process waiting on a thread's answer
    // exited with it unref'd (the bench's drain did, between two jobs). Shutdown closes the
    // pool; a pool left open lets the process end once its threads pass idleTimeout.
    const thread: PooledThread = {
      worker,
      tasksRun: 0,
      loaded: false,
      exited: new Promise((resolve) => worker.once('exit', () => resolve())),
    };
    this.threads.add(thread);
    this.leaving.add(thread.exited);
    void thread.exited.then(() => this.leaving.delete(thread.exited));
    worker.on('message', (message: FromThread) => this.received(thread, message));
    // An uncaught error in the thread ends it: 'exit' follows and fails its job.
    worker.on('error', (error) => (thread.crash ??= error));
    worker.once('exit', (code) => this.exited(thread, code));
    return thread;
  }

  private received(thread: PooledThread, message: FromThread): void {
    const call = thread.call;
    switch (message.type) {
      case 'loaded':
        return this.loaded(thread);
      case 'ready':
        return;
      case 'boot-failed':
        thread.bootError = fromWire(message.error);
        this.loaded(thread);
        return this.terminate(thread);
      case 'log':
        if (call?.id === message.id && !call.settled) {
          call.events.log(message.level, message.message, message.stack, message.fields);
        }
        return;
      case 'progress':
        if (call?.id === message.id && !call.settled) call.events.progress(message.value);
        return;
      case 'done': {
        // A stopped call's thread is being terminated: its outcome is the stop's reason.
        if (!call || call.id !== message.id || call.stopped) return;
        thread.call = undefined;
        thread.tasksRun++;
        settle(call, message.ok, message.ok ? message.result : fromWire(message.error));
        const { maxTasksPerThread, maxMemoryPerThreadMb } = this.options;
        if (
          (maxTasksPerThread !== undefined && thread.tasksRun >= maxTasksPerThread) ||
          (maxMemoryPerThreadMb !== undefined && message.heapMb > maxMemoryPerThreadMb)
        ) {
          this.retire(thread);
        } else if (this.waiting.length) {
          this.assign(thread, this.waiting.shift()!);
        } else {
          this.idle.push(thread);
          thread.idleTimer = setTimeout(() => this.retire(thread), this.options.idleTimeoutMs);
          thread.idleTimer.unref();
        }
        return;
      }
    }
  }

  private exited(thread: PooledThread, code: number): void {
    this.forget(thread);
    const call = thread.call;
    if (call && !call.settled) {
      settle(call, false, call.stopped ? call.stopped.reason : this.crashError(call, thread, code));
    }
    this.dispatch();
  }

  private crashError(call: Call, thread: PooledThread, code: number): TaskThreadError {
    if (thread.bootError) {
      return new TaskThreadError(
        call.taskName,
        `its worker thread could not boot ${this.options.module.export} (${this.options.module.path}): ${thread.bootError.message}`,
        { cause: thread.bootError },
      );
    }
    if (thread.crash) {
      return new TaskThreadError(
        call.taskName,
        `its worker thread crashed: ${thread.crash.message}`,
        { cause: thread.crash },
      );
    }
    return new TaskThreadError(call.taskName, `its worker thread exited with code ${code}`);
  }

  private abort(call: Call, reason: unknown): void {
    if (call.settled || call.aborted !== undefined) return;
    call.aborted = reason;
    if (call.thread) {
      call.thread.worker.postMessage({ type: 'abort', id: call.id, reason: toWire(reason) });
    }
  }

  private stop(call: Call, reason: unknown): void {
    if (call.settled || call.stopped) return;
    call.stopped = { reason };
    if (call.thread) return this.terminate(call.thread);
    const index = this.waiting.indexOf(call);
    if (index >= 0) this.waiting.splice(index, 1);
    settle(call, false, reason);
  }

  /** Ends a thread now, whatever it runs; its job settles on 'exit'. */
  private terminate(thread: PooledThread): void {
    this.forget(thread);
    this.kill(thread);
  }

  /**
   * `worker.terminate()`, once the thread has loaded its code. Node 20 aborts the whole
   * process (a V8 fatal error) when a thread is terminated in the middle of a `require()` of
   * an ES module, which Nest 12 is; so a thread still loading is terminated when it is done,
   * or after LOAD_GRACE_MS if it never is.
   */
  private kill(thread: PooledThread): void {
    if (thread.loaded) {
      void thread.worker.terminate();
      return;
    }
    if (thread.killWhenLoaded) return;
    thread.killWhenLoaded = true;
    const force = setTimeout(() => void thread.worker.terminate(), LOAD_GRACE_MS);
    force.unref();
    void thread.exited.then(() => clearTimeout(force));
  }

  private loaded(thread: PooledThread): void {
    thread.loaded = true;
    if (thread.killWhenLoaded) void thread.worker.terminate();
  }

  /** Lets a thread close its module and exit; it is terminated if that takes too long. */
  private retire(thread: PooledThread): void {
    this.forget(thread);
    thread.worker.postMessage({ type: 'close' } satisfies ToThread);
    const force = setTimeout(() => this.kill(thread), CLOSE_GRACE_MS);
    force.unref();
    void thread.exited.then(() => clearTimeout(force));
    // Its place is free: a job waiting may boot the replacement at once.
    this.dispatch();
  }

  private forget(thread: PooledThread): void {
    clearTimeout(thread.idleTimer);
    this.threads.delete(thread);
    const index = this.idle.indexOf(thread);
    if (index >= 0) this.idle.splice(index, 1);
  }
}

function settle(call: Call, ok: boolean, value: unknown): void {
  if (call.settled) return;
  call.settled = true;
  if (ok) call.resolve(value);
  else call.reject(value);
}
