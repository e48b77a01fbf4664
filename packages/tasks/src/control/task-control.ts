import { Inject, Injectable } from '@nestjs/common';
import { InvalidTaskOptionsError } from '../errors';
import { DEFAULT_QUEUE_OPTIONS, type ResolvedModuleOptions } from '../options/module-options';
import {
  checkInteger,
  checkKnownKeys,
  checkObject,
  definedOnly,
  nearest,
  type Fail,
} from '../options/validation';
import { checkRateLimit } from '../options/task-options';
import type { RateLimit, RateLimitString } from '../interfaces/module-options.interface';
import type { TaskRef } from '../interfaces/task-ref.interface';
import type { RegisteredTask, TaskDefinition } from '../tasks.registry';
import { RESOLVED_TASKS_OPTIONS } from '../tasks.constants';
import { TasksRegistry } from '../tasks.registry';
import {
  ControlStore,
  MAX_CONCURRENCY,
  type StoredRate,
  type TaskOverrides,
} from './control-store';

/** A rate limit as `TaskControl.limits()` lists it: starts per window. */
export interface RateLimitInfo {
  max: number;
  durationMs: number;
}

/** One queue's run-time state, as `TaskControl.limits()` lists it. */
export interface QueueLimits {
  queue: string;
  /** Paused with `TaskControl.pause()`: no worker of any process takes its jobs. */
  paused: boolean;
  /** What its workers run at now: the override if there is one, else the declared value. */
  concurrency: number;
  /** Its rate limit now, across workers: the override, else the declared one. */
  rateLimit?: RateLimitInfo;
  /** Runs at once across every worker process (`setQueueLimits`); absent: no such limit. */
  maxConcurrent?: number;
  /** As declared in `TasksModule.forRoot({ queues })` of this app. */
  declared: {
    concurrency: number;
    rateLimit?: RateLimitInfo;
  };
  /** Set at run time and kept in Redis until reset; absent when none is. */
  overrides: {
    concurrency?: number;
    rateLimit?: RateLimitInfo;
    maxConcurrent?: number;
  };
  /** This app's tasks whose jobs go to this queue (their declared or routed queue). */
  tasks: TaskLimits[];
}

/** One task's run-time state, as `TaskControl.limits()` lists it. */
export interface TaskLimits {
  task: string;
  /** Paused with `TaskControl.pauseTask()`: its jobs wait, parked, until resumed. */
  paused: boolean;
  /** Runs at once across workers now (per key with `concurrencyKey`); absent: no limit. */
  maxConcurrent?: number;
  rateLimit?: RateLimitInfo;
  declared: { maxConcurrent?: number; rateLimit?: RateLimitInfo };
  overrides: { maxConcurrent?: number; rateLimit?: RateLimitInfo };
}

/**
 * A change of a task's or a queue's limits: a value sets an override, `null` removes it (back
 * to the declared value), and a key left out stays as it is.
 */
export interface TaskLimitsChange {
  maxConcurrent?: number | null;
  rateLimit?: RateLimit | RateLimitString | null;
}

/**
 * Changes how queues and tasks run while the app runs, from any process, for every worker
 * process of the app (every process with the same `prefix`): pause and resume a queue or a
 * task, change a queue's worker concurrency, a queue's or a task's rate limit and runs at
 * once across workers (Celery's `rate_limit` control command). Changes are kept in Redis until
 * undone, so a process started later gets them too, and each worker applies a change as it
 * is announced (a second at most while Redis answers).
 *
 * @example
 * constructor(private readonly control: TaskControl) {}
 *
 * await this.control.pause('email');           // running jobs finish, waiting ones wait
 * await this.control.resume('email');
 * await this.control.setConcurrency('reports', 2);
 * await this.control.resetConcurrency('reports'); // back to the declared value
 * await this.control.setTaskLimits('email.send', { rateLimit: '10/s', maxConcurrent: 5 });
 * await this.control.setTaskLimits('email.send', { rateLimit: null }); // declared again
 * await this.control.setQueueLimits('reports', { maxConcurrent: 4, rateLimit: '100/m' });
 * await this.control.pauseTask('email.digest'); // its jobs wait, parked; others run
 * await this.control.resumeTask('email.digest');
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
   * Changes a queue's limits across every worker process: `rateLimit`, starts per period for
   * the whole queue (BullMQ's limiter: each worker sends it with its fetches, so every
   * process applies it when it hears of the change), and `maxConcurrent`, runs at once
   * across workers (BullMQ's global concurrency, checked by Redis at each fetch).
   *
   * @example
   * await control.setQueueLimits('reports', { rateLimit: '100/m', maxConcurrent: 4 });
   * await control.setQueueLimits('reports', { rateLimit: null }); // back to the declared one
   */
  async setQueueLimits(queue: string, change: TaskLimitsChange): Promise<void> {
    const name = this.checkQueue(queue);
    const fail = failFor(`queue '${name}'`);
    const { maxConcurrent, rateLimit } = checkChange(change, fail);
    if (maxConcurrent !== undefined) {
      await this.store.setQueueMaxConcurrent(name, maxConcurrent ?? undefined);
    }
    if (rateLimit !== undefined) await this.store.setQueueRate(name, rateLimit ?? undefined);
  }

  /** Removes every limit override of `queue` (not its concurrency nor its pause). */
  async resetQueueLimits(queue: string): Promise<void> {
    await this.setQueueLimits(queue, { maxConcurrent: null, rateLimit: null });
  }

  /**
   * Changes a task's run limits across every worker process: `maxConcurrent` (per key with
   * `concurrencyKey`) and `rateLimit`. Jobs already parked behind the old limits get the new
   * ones at once: raising a limit starts them now. Runs in flight finish. A `singleton` or
   * `lock` task keeps its one run at a time: its `maxConcurrent` is refused.
   *
   * @param task a task with a handler in this app, by name or `TaskRef`
   */
  async setTaskLimits<P, R, H>(
    task: string | TaskRef<P, R, H>,
    change: TaskLimitsChange,
  ): Promise<void> {
    const definition = this.checkTask(task);
    const fail = failFor(`task '${definition.name}'`);
    const { maxConcurrent, rateLimit } = checkChange(change, fail);
    if (typeof maxConcurrent === 'number' && definition.options.exclusive) {
      fail(
        'maxConcurrent of a singleton or lock task cannot change: one run at a time is what it means',
      );
    }
    if (maxConcurrent !== undefined) {
      await this.store.setTask(definition.name, 'maxConcurrent', maxConcurrent ?? undefined);
    }
    if (rateLimit !== undefined) {
      await this.store.setTask(definition.name, 'rateLimit', rateLimit ?? undefined);
    }
  }

  /** Puts `task` back on its declared limits. */
  async resetTaskLimits<P, R, H>(task: string | TaskRef<P, R, H>): Promise<void> {
    const { name } = this.checkTask(task);
    await this.store.setTask(name, 'maxConcurrent', undefined);
    await this.store.setTask(name, 'rateLimit', undefined);
  }

  /**
   * Stops every worker of every process from running `task`'s jobs until `resumeTask`. Its
   * jobs wait, parked where a worker meets them (in the delayed set, spending no attempt);
   * other tasks of the same queue run on. Runs in flight finish.
   */
  async pauseTask<P, R, H>(task: string | TaskRef<P, R, H>): Promise<void> {
    await this.store.setTask(this.checkTask(task).name, 'paused', true);
  }

  /** Lets `task`'s jobs run again, the ones that waited first. */
  async resumeTask<P, R, H>(task: string | TaskRef<P, R, H>): Promise<void> {
    await this.store.setTask(this.checkTask(task).name, 'paused', undefined);
  }

  /** Whether `task` is paused now. */
  async isTaskPaused<P, R, H>(task: string | TaskRef<P, R, H>): Promise<boolean> {
    const { name } = this.checkTask(task);
    return (await this.store.read()).tasks.get(name)?.paused === true;
  }

  /**
   * Every queue this app knows, with what is paused or overridden now beside what it
   * declares, and its tasks likewise, sorted by name. A queue another app of the same prefix
   * overrides and this one does not know is listed too, with the default declared values.
   */
  async limits(): Promise<QueueLimits[]> {
    const stored = await this.store.read();
    const names = [
      ...new Set([
        ...this.registry.knownQueues(),
        ...stored.concurrency.keys(),
        ...stored.queueRates.keys(),
      ]),
    ].sort();
    const [paused, maxConcurrent] = await Promise.all([
      this.store.paused(names),
      this.store.queueMaxConcurrent(names),
    ]);
    const tasks = this.registry.all().sort((a, b) => a.name.localeCompare(b.name));
    return names.map((queue, i) => {
      const declared = this.options.queues?.get(queue) ?? DEFAULT_QUEUE_OPTIONS;
      const concurrency = stored.concurrency.get(queue);
      const rate = stored.queueRates.get(queue);
      const rateOverride = rate && { max: rate.max, durationMs: rate.perMs };
      const declaredRate = declared.rateLimit && { ...declared.rateLimit };
      return {
        queue,
        paused: paused[i],
        concurrency: concurrency ?? declared.concurrency,
        ...definedOnly({
          rateLimit: rateOverride ?? declaredRate,
          maxConcurrent: maxConcurrent[i],
        }),
        declared: {
          concurrency: declared.concurrency,
          ...definedOnly({ rateLimit: declaredRate }),
        },
        overrides: definedOnly({
          concurrency,
          rateLimit: rateOverride,
          maxConcurrent: maxConcurrent[i],
        }),
        tasks: tasks
          .filter((task) => this.registry.queuesOf(task).includes(queue))
          .map((task) => taskLimits(task, stored.tasks.get(task.name) ?? {})),
      };
    });
  }

  private checkTask(task: unknown): TaskDefinition {
    const names = this.registry.names();
    if (typeof task === 'string' && !names.includes(task)) {
      const near = nearest(task, names);
      throw new InvalidTaskOptionsError(
        undefined,
        `task '${task}' has no @Task() handler in this app` +
          (near ? ` (did you mean '${near}'?)` : '') +
          `; known tasks: ${names.join(', ') || 'none'}`,
      );
    }
    return this.registry.definition(task as string | TaskRef);
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

function failFor(what: string): Fail {
  return (problem) => {
    throw new InvalidTaskOptionsError(undefined, `${problem} (${what})`);
  };
}

/** Checks a limits change; `null` stays `null` (remove), `undefined` (leave) stays out. */
function checkChange(
  change: unknown,
  fail: Fail,
): { maxConcurrent?: number | null; rateLimit?: StoredRate | null } {
  const o = checkObject(change, 'limits', fail);
  checkKnownKeys(o, ['maxConcurrent', 'rateLimit'], 'limits', fail);
  if (o.maxConcurrent === undefined && o.rateLimit === undefined) {
    fail(
      'limits must give maxConcurrent or rateLimit (a value sets it, null removes the override)',
    );
  }
  return {
    maxConcurrent:
      o.maxConcurrent === null || o.maxConcurrent === undefined
        ? (o.maxConcurrent as null | undefined)
        : checkInteger(o.maxConcurrent, 'maxConcurrent', 1, 1_000_000, fail),
    rateLimit:
      o.rateLimit === null || o.rateLimit === undefined
        ? (o.rateLimit as null | undefined)
        : checkRateLimit(o.rateLimit, 'rateLimit', fail),
  };
}

function taskLimits(task: RegisteredTask, overrides: TaskOverrides): TaskLimits {
  const rate = (r?: StoredRate) => r && { max: r.max, durationMs: r.perMs };
  const declared = definedOnly({
    maxConcurrent: task.options.maxConcurrent,
    rateLimit: rate(task.options.rateLimit),
  });
  const overridden = definedOnly({
    maxConcurrent: task.options.exclusive ? undefined : overrides.maxConcurrent,
    rateLimit: rate(overrides.rateLimit),
  });
  return {
    task: task.name,
    paused: overrides.paused === true,
    ...declared,
    ...overridden,
    declared,
    overrides: overridden,
  };
}
