import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { InvalidModuleOptionsError, InvalidTaskOptionsError } from '../errors';
import { ConveyorLogger, runFields } from '../logging/conveyor-logger';
import type { ResolvedModuleOptions } from '../options/module-options';
import { RESOLVED_TASKS_OPTIONS } from '../tasks.constants';
import type { RegisteredTask } from '../tasks.registry';
import type { InFlightRun } from '../worker/in-flight-run';
import type { TaskContext } from '../worker/task-context';
import { insideConveyorThread } from './thread-env';
import { type ThreadCall, ThreadPool } from './thread-pool';

/**
 * Runs the handlers of isolated tasks (`isolation: 'thread'`) in the app's thread pool, under
 * the run's time limits: the signal is forwarded to the thread, log lines and progress come
 * back to the run, and the hard limit terminates the thread. The pool starts with the first
 * isolated job and closes on shutdown, after the workers have stopped.
 */
@Injectable()
export class TaskThreads implements OnApplicationShutdown {
  private readonly logger = new ConveyorLogger('Conveyor');
  private pool?: ThreadPool;

  constructor(@Inject(RESOLVED_TASKS_OPTIONS) private readonly options: ResolvedModuleOptions) {}

  /**
   * Fails startup when a task or queue asks for `isolation: 'thread'` and the app configures
   * no threads. Called by the explorer once every handler is registered; only the real
   * TasksModule has this provider, so `@conveyor/testing` runs isolated tasks inline, and a
   * thread's own TasksModule runs no handler at all.
   */
  checkConfigured(tasks: RegisteredTask[]): void {
    if (this.options.threads || insideConveyorThread()) return;
    const queue = [...(this.options.queues ?? [])].find(([, q]) => q.isolation === 'thread');
    if (queue) {
      throw new InvalidModuleOptionsError(
        `queues.${queue[0]}.isolation is 'thread', but no threads are configured: give threads: { module: { path, export } }`,
      );
    }
    const task = tasks.find((t) => t.options.isolation === 'thread');
    if (task) {
      throw new InvalidTaskOptionsError(
        task.name,
        `isolation is 'thread', but no threads are configured: give TasksModule.forRoot({ threads: { module: { path, export } } })`,
      );
    }
  }

  /** True when `task`'s jobs from `queue` run in a thread: its own choice, else its queue's. */
  isolated(task: RegisteredTask, queue: string): boolean {
    if (!this.options.threads) return false;
    return (task.options.isolation ?? this.options.queues?.get(queue)?.isolation) === 'thread';
  }

  /** Threads alive now (0 before the first isolated job). */
  get threadCount(): number {
    return this.pool?.threadCount ?? 0;
  }

  /** Runs one attempt of `task` in a thread; settles like `InFlightRun.execute`. */
  execute(
    task: RegisteredTask,
    payload: unknown,
    ctx: TaskContext,
    run: InFlightRun,
  ): Promise<unknown> {
    const pool = (this.pool ??= new ThreadPool(this.options.threads!));
    let call: ThreadCall | undefined;
    const start = () => {
      const started = pool.run(
        task.name,
        {
          id: ctx.jobId,
          name: task.name,
          queue: ctx.queue,
          attemptsMade: ctx.attempt - 1,
          attempts: ctx.maxAttempts,
          timestamp: ctx.enqueuedAt.getTime(),
          admittedAt: ctx.admittedAt?.getTime(),
        },
        payload,
        {
          log: (level, message, stack, fields) =>
            level === 'error'
              ? ctx.log.error(message, stack, fields)
              : ctx.log[level](message, fields),
          progress: (value) =>
            void ctx
              .progress(value)
              .catch((error: Error) =>
                this.logger.warn(
                  `could not record the progress of job ${ctx.jobId}: ${error.message}`,
                  runFields(task.name, run.job),
                ),
              ),
        },
      );
      call = started;
      const { signal } = run;
      if (signal.aborted) started.abort(signal.reason);
      else signal.addEventListener('abort', () => started.abort(signal.reason), { once: true });
      return started.done;
    };
    return run.execute(task.name, task.options, start, (reason) => call?.stop(reason));
  }

  async onApplicationShutdown(): Promise<void> {
    await this.pool?.close();
  }
}
