import { Inject, Injectable } from '@nestjs/common';
import { InvalidTaskOptionsError } from '../errors';
import { DEFAULT_QUEUE_OPTIONS, type ResolvedModuleOptions } from '../options/module-options';
import { checkInteger, nearest, type Fail } from '../options/validation';
import { RESOLVED_TASKS_OPTIONS } from '../tasks.constants';
import { TasksRegistry } from '../tasks.registry';
import { ControlStore, MAX_CONCURRENCY } from './control-store';

/** One queue's run-time state, as `TaskControl.limits()` lists it. */
export interface QueueLimits {
  queue: string;
  /** Paused with `TaskControl.pause()`: no worker of any process takes its jobs. */
  paused: boolean;
  /** What its workers run at now: the override if there is one, else the declared value. */
  concurrency: number;
  /** As declared in `TasksModule.forRoot({ queues })` of this app. */
  declared: {
    concurrency: number;
    rateLimit?: { max: number; durationMs: number };
  };
  /** Set at run time and kept in Redis until reset; absent when none is. */
  overrides: {
    concurrency?: number;
  };
}

/**
 * Changes how queues run while the app runs, from any process, for every worker process of
 * the app (every process with the same `prefix`): pause and resume a queue, change its worker
 * concurrency. Changes are kept in Redis until undone, so a process started later gets them
 * too, and each worker applies a change within a second.
 *
 * @example
 * constructor(private readonly control: TaskControl) {}
 *
 * await this.control.pause('email');           // running jobs finish, waiting ones wait
 * await this.control.resume('email');
 * await this.control.setConcurrency('reports', 2);
 * await this.control.resetConcurrency('reports'); // back to the declared value
 * console.table(await this.control.limits());
 */
@Injectable()
export class TaskControl {
  constructor(
    @Inject(RESOLVED_TASKS_OPTIONS) private readonly options: ResolvedModuleOptions,
    private readonly registry: TasksRegistry,
    private readonly store: ControlStore,
  ) {}

  /**
   * Stops every worker of every process from taking `queue`'s jobs (BullMQ's global pause).
   * Jobs already running finish; jobs waiting, and jobs enqueued meanwhile, stay `waiting`
   * until `resume(queue)`.
   */
  async pause(queue: string): Promise<void> {
    await this.store.pause(this.checkQueue(queue));
  }

  /** Lets workers take `queue`'s jobs again after `pause(queue)`. */
  async resume(queue: string): Promise<void> {
    await this.store.resume(this.checkQueue(queue));
  }

  /** Whether `queue` is paused now. */
  async isPaused(queue: string): Promise<boolean> {
    const [paused] = await this.store.paused([this.checkQueue(queue)]);
    return paused;
  }

  /**
   * Runs `queue`'s workers at `concurrency` jobs at once per process, in every process that
   * consumes it, until `resetConcurrency(queue)`. Jobs above a lowered value finish; no new
   * one starts until the worker is below it.
   *
   * @param concurrency an integer from 1 to 10000, as `queues.<name>.concurrency` accepts
   */
  async setConcurrency(queue: string, concurrency: number): Promise<void> {
    const name = this.checkQueue(queue);
    const fail: Fail = (problem) => {
      throw new InvalidTaskOptionsError(undefined, `${problem} (queue '${name}')`);
    };
    checkInteger(concurrency, 'concurrency', 1, MAX_CONCURRENCY, fail);
    await this.store.setConcurrency(name, concurrency);
  }

  /** Puts `queue`'s workers back on the concurrency the app declares for it. */
  async resetConcurrency(queue: string): Promise<void> {
    await this.store.resetConcurrency(this.checkQueue(queue));
  }

  /**
   * Every queue this app knows, with what is paused or overridden now beside what it
   * declares, sorted by name. A queue another app of the same prefix overrides and this one
   * does not know is listed too, with the default declared values.
   */
  async limits(): Promise<QueueLimits[]> {
    const stored = await this.store.read();
    const names = [
      ...new Set([...this.registry.knownQueues(), ...stored.concurrency.keys()]),
    ].sort();
    const paused = await this.store.paused(names);
    return names.map((queue, i) => {
      const declared = this.options.queues?.get(queue) ?? DEFAULT_QUEUE_OPTIONS;
      const override = stored.concurrency.get(queue);
      return {
        queue,
        paused: paused[i],
        concurrency: override ?? declared.concurrency,
        declared: {
          concurrency: declared.concurrency,
          ...(declared.rateLimit ? { rateLimit: { ...declared.rateLimit } } : {}),
        },
        overrides: override === undefined ? {} : { concurrency: override },
      };
    });
  }

  private checkQueue(queue: unknown): string {
    const known = this.registry.knownQueues();
    if (typeof queue === 'string' && known.includes(queue)) return queue;
    const near = typeof queue === 'string' ? nearest(queue, known) : undefined;
    throw new InvalidTaskOptionsError(
      undefined,
      `queue ${typeof queue === 'string' ? `'${queue}'` : String(queue)} is not a queue this ` +
        `app declares in TasksModule.forRoot({ queues }) or has a @Task() handler for` +
        (near ? ` (did you mean '${near}'?)` : '') +
        `; known queues: ${known.join(', ') || 'none'}`,
    );
  }
}
