import {
  Inject,
  Injectable,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { type JobSchedulerTemplateOptions, Queue } from 'bullmq';
import { ConveyorLogger, errorField } from '../logging/conveyor-logger';
import type { RedisClient } from '../redis/open-connection';
import {
  ConveyorError,
  InvalidScheduleError,
  ScheduleLockError,
  UnknownScheduleError,
} from '../errors';
import { CLOSE_GRACE_MS, settleWithin } from '../lifecycle/settle-within';
import type { ResolvedModuleOptions } from '../options/module-options';
import { validatePayload } from '../payload/validate-payload';
import { ConveyorQueues } from '../producer/conveyor-queues';
import { buildJobOptions } from '../producer/job-options';
import { quit, RedisConnections } from '../redis/redis-connections';
import { RESOLVED_TASKS_OPTIONS } from '../tasks.constants';
import { type TaskDefinition, TasksRegistry } from '../tasks.registry';
import { pausedFromScheduler, type PausedSchedule, PausedSchedules } from './paused-schedules';
import { ScheduleLock } from './schedule-lock';
import { insideConveyorThread } from '../threads/thread-env';
import type { ResolvedSchedule } from './schedule-spec';

/** One schedule as `TaskProducer.schedules()` reports it. */
export interface ScheduleInfo {
  /** `conveyor.<task name>` for a declared schedule; your id for one added at run time. */
  id: string;
  taskName: string;
  queue: string;
  /** `declared` comes from `@Task(ref, { schedule })`; `runtime` from `TaskProducer.schedule()`. */
  source: 'declared' | 'runtime';
  cron?: string;
  tz?: string;
  /** Interval in milliseconds, for `every` schedules. */
  everyMs?: number;
  /** When the next run is due; `undefined` while paused, or if BullMQ no longer holds the scheduler. */
  nextRunAt?: Date;
  /** True between `pauseSchedule(id)` and `resumeSchedule(id)`: no tick makes a job. */
  paused: boolean;
  /** When it was paused. */
  pausedAt?: Date;
}

/** What Conveyor records about a scheduler it owns, in one Redis hash per prefix. */
interface OwnedScheduler {
  queue: string;
  taskName: string;
  source: 'declared' | 'runtime';
}

/** What `trigger()` needs to enqueue one run now. */
export interface ScheduleRun {
  taskName: string;
  queue: string;
  payload: unknown;
  /** The job options the schedule's runs get (its template's), for a process without the task. */
  opts: JobSchedulerTemplateOptions;
}

/** Declared schedules are named after their task, so a deploy finds the one to update. */
export const DECLARED_SCHEDULE_PREFIX = 'conveyor.';
const SCHEDULE_ID_PATTERN = /^[A-Za-z0-9][^:\s]{0,199}$/;
/**
 * The lock is renewed while held, so it can be short: a holder that died blocks the others for
 * at most one TTL, and waiting one TTL and a bit covers that.
 */
const LOCK_TIMING = { ttlMs: 10_000, waitMs: 11_000 };
/** When an app that declares no schedule looks for ones an earlier version left. */
const STALE_SWEEP_DELAY_MS = 5_000;

/** The Redis client and queues one operation works with. */
interface Access {
  client: RedisClient;
  queue(name: string): Queue;
}

/**
 * Keeps BullMQ job schedulers in line with the app. At bootstrap, under a Redis lock (so that
 * many processes booting at once take turns), it upserts every `@Task(ref, { schedule })` and
 * deletes the declared schedulers it owns on this app's queues that no handler declares any
 * more. BullMQ's job schedulers then make one job per tick, whatever the number of workers.
 * The lock is owned by a token and renewed while held; runtime `add()`/`remove()` take it
 * too. An app that declares no schedule makes no Redis call at boot. Attempts after boot
 * (Redis down, lock busy) are logged and retried with backoff, and never reject.
 */
@Injectable()
export class TaskSchedules implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new ConveyorLogger('Conveyor');
  private retry?: NodeJS.Timeout;
  private stopped = false;
  private readonly declared = new Map<string, { taskName: string; schedule: ResolvedSchedule }>();
  /** Paused schedules, beside the owned ones (same tag, so one slot). */
  private readonly paused: PausedSchedules;

  constructor(
    @Inject(RESOLVED_TASKS_OPTIONS) private readonly options: ResolvedModuleOptions,
    private readonly registry: TasksRegistry,
    private readonly queues: ConveyorQueues,
    private readonly redis: RedisConnections,
  ) {
    this.paused = new PausedSchedules(options.keys.appKey('schedules:paused'));
  }

  /** Called by the explorer for each handler with a schedule; no I/O. */
  declare(taskName: string, schedule: ResolvedSchedule): void {
    this.declared.set(DECLARED_SCHEDULE_PREFIX + taskName, { taskName, schedule });
  }

  async onApplicationBootstrap(): Promise<void> {
    // The process that started the thread declares the schedules.
    if (insideConveyorThread()) return;
    // Payloads are checked before taking the lock: a bad one fails startup and changes nothing.
    for (const { taskName, schedule } of this.declared.values()) {
      await checkSchedulePayload(this.registry.definition(taskName), schedule.payload);
    }
    const scope = this.registry.handledQueues();
    if (!scope.size) return;
    if (!this.declared.size) {
      // Nothing to put in place: boot makes no Redis call. Only schedules an earlier version
      // of the app declared may be left to remove; a look after boot finds them.
      this.retryIn(scope, STALE_SWEEP_DELAY_MS);
      return;
    }
    try {
      await this.reconcileOnce(scope);
    } catch (error) {
      // A bug of ours fails startup; a Redis that is down or refuses our credentials, or a
      // lock another process keeps, must not keep the app from starting (workers and
      // producers ride out the same outage): reconcile as soon as it answers.
      if (error instanceof ConveyorError && !(error instanceof ScheduleLockError)) throw error;
      this.failed(error, scope, 1_000);
    }
  }

  onApplicationShutdown(): void {
    this.stopped = true;
    clearTimeout(this.retry);
  }

  /** A later attempt, off the boot path: it never rejects, and retries until it succeeds. */
  private retryIn(scope: Set<string>, delayMs: number, nextDelayMs = 1_000): void {
    if (this.stopped) return;
    this.retry = setTimeout(() => {
      this.reconcileOnce(scope).catch((error: unknown) => this.failed(error, scope, nextDelayMs));
    }, delayMs);
    this.retry.unref();
  }

  private failed(error: unknown, scope: Set<string>, delayMs: number): void {
    // An attempt that fails because the app is closing is not retried.
    if (this.stopped) return;
    this.logger.error(
      `could not reconcile schedules (${(error as Error)?.message ?? String(error)}); ` +
        `retrying in ${delayMs / 1000} s`,
      { queues: [...scope], retryInMs: delayMs, error: errorField(error) },
    );
    this.retryIn(scope, delayMs, Math.min(delayMs * 2, 60_000));
  }

  private async reconcileOnce(scope: Set<string>): Promise<void> {
    // Its own connection, closed before returning: if another bootstrap hook fails the
    // startup, the app is never closed and a shared client would stay open.
    const client = this.redis.create('schedules', {});
    const queues = new Map<string, Queue>();
    const access: Access = {
      client,
      queue: (name) => {
        let queue = queues.get(name);
        if (!queue) {
          queue = new Queue(name, {
            connection: client,
            prefix: this.options.keys.prefixOf(name),
          });
          queue.on('error', () => undefined);
          queues.set(name, queue);
        }
        return queue;
      },
    };
    try {
      // With nothing declared, the lock is worth taking only if there is something to remove.
      if (!this.declared.size && !this.stale(scope, await this.owned(access)).length) return;
      await this.lock(client).run((held) => this.reconcile(scope, access, held));
    } finally {
      await Promise.all(
        [...queues.values()].map((queue) =>
          settleWithin(queue.close(), CLOSE_GRACE_MS, () => queue.disconnect()),
        ),
      );
      await quit(client);
    }
  }

  private get shared(): Access {
    return { client: this.redis.client, queue: (name) => this.queues.queue(name) };
  }

  /** Adds or replaces a schedule at run time. */
  async add(
    id: string,
    definition: TaskDefinition,
    schedule: ResolvedSchedule,
  ): Promise<ScheduleInfo> {
    checkScheduleId(definition.name, id);
    await checkSchedulePayload(definition, schedule.payload);
    const access = this.shared;
    const entry: OwnedScheduler = {
      queue: definition.options.queue,
      taskName: definition.name,
      source: 'runtime',
    };
    // Under the lock: the read of the previous queue and the writes must not interleave with
    // a reconciliation or another add() of the same id, or a scheduler is left on a queue.
    await this.lock(access.client).run(async (held) => {
      const previous = (await this.owned(access)).get(id);
      if (previous && previous.queue !== definition.options.queue) {
        held();
        await access.queue(previous.queue).removeJobScheduler(id);
      }
      held();
      await this.put(access, id, definition, schedule);
      await this.record(access, id, entry);
    });
    return (await this.describe(access, id, entry))!;
  }

  /** Removes a schedule added at run time; jobs it already made still run. */
  async remove(id: string): Promise<void> {
    const access = this.shared;
    await this.lock(access.client).run(async (held) => {
      const entry = (await this.owned(access)).get(id);
      if (!entry || entry.source !== 'runtime') throw new UnknownScheduleError(String(id));
      held();
      await access.queue(entry.queue).removeJobScheduler(id);
      await this.paused.forget(access.client, id);
      await access.client.hdel(this.ownedKey, id);
    });
  }

  /**
   * Pauses a schedule (declared or added at run time): its BullMQ scheduler is removed and
   * kept aside, so no tick makes a job until `resume(id)`, across restarts and deploys (the
   * reconciliation updates a paused schedule's timing and payload but leaves it paused).
   * Pausing a paused schedule changes nothing. Jobs it already made still run.
   */
  async pause(id: string): Promise<ScheduleInfo> {
    const access = this.shared;
    const entry = await this.lock(access.client).run(async (held) => {
      const entry = await this.ownedEntry(access, id);
      if (!(await this.paused.get(access.client, id))) {
        const scheduler = await access.queue(entry.queue).getJobScheduler(id);
        if (!scheduler) throw new UnknownScheduleError(id);
        held();
        await this.paused.keep(access.client, id, pausedFromScheduler(scheduler, Date.now()));
      }
      // Also when it was paused already: a pause cut short between its two writes ends here.
      held();
      await access.queue(entry.queue).removeJobScheduler(id);
      return entry;
    });
    return (await this.describe(access, id, entry))!;
  }

  /**
   * Resumes a paused schedule: its scheduler is put back as it was kept (or as the latest
   * deploy declared it) and the next tick is computed from now; runs missed while paused are
   * not made up. Resuming a schedule that is not paused changes nothing.
   */
  async resume(id: string): Promise<ScheduleInfo> {
    const access = this.shared;
    const entry = await this.lock(access.client).run(async (held) => {
      const entry = await this.ownedEntry(access, id);
      const paused = await this.paused.get(access.client, id);
      if (paused) {
        held();
        await access.queue(entry.queue).upsertJobScheduler(id, paused.repeat, paused.template);
        await this.paused.forget(access.client, id);
      }
      return entry;
    });
    return (await this.describe(access, id, entry))!;
  }

  /**
   * The task and payload of one run of schedule `id`, paused or not, for `trigger`: the
   * schedule itself is not changed.
   */
  async runOf(id: string): Promise<ScheduleRun> {
    const access = this.shared;
    const entry = await this.ownedEntry(access, id);
    const paused = await this.paused.get(access.client, id);
    const template = paused
      ? paused.template
      : (await access.queue(entry.queue).getJobScheduler(id))?.template;
    if (!paused && template?.data === undefined) throw new UnknownScheduleError(id);
    return {
      taskName: entry.taskName,
      queue: entry.queue,
      payload: template?.data ?? {},
      opts: template?.opts ?? {},
    };
  }

  /** Every schedule Conveyor owns under this prefix, with its next run time. */
  async list(): Promise<ScheduleInfo[]> {
    const access = this.shared;
    // One read of the paused ones for the whole list, not one a schedule.
    const [owned, paused] = await Promise.all([this.owned(access), this.paused.all(access.client)]);
    const infos = await Promise.all(
      [...owned].map(([id, entry]) => this.describe(access, id, entry, paused.get(id) ?? null)),
    );
    return infos
      .filter((info): info is ScheduleInfo => info !== undefined)
      .sort((a, b) => a.id.localeCompare(b.id));
  }

  private async reconcile(scope: Set<string>, access: Access, held: () => void): Promise<void> {
    const owned = await this.owned(access);
    for (const [id, { taskName, schedule }] of this.declared) {
      const definition = this.registry.definition(taskName);
      const previous = owned.get(id);
      held();
      if (previous && previous.queue !== definition.options.queue) {
        await access.queue(previous.queue).removeJobScheduler(id);
      }
      await this.put(access, id, definition, schedule);
      await this.record(access, id, {
        queue: definition.options.queue,
        taskName,
        source: 'declared',
      });
    }
    for (const [id, entry] of this.stale(scope, owned)) {
      held();
      await access.queue(entry.queue).removeJobScheduler(id);
      await this.paused.forget(access.client, id);
      await access.client.hdel(this.ownedKey, id);
      this.logger.log(`removed schedule ${id}: no handler declares it any more`, {
        schedule: id,
        task: entry.taskName,
        queue: entry.queue,
      });
    }
    if (this.declared.size) {
      const schedules = [...this.declared.keys()];
      this.logger.log(`schedules in place: ${schedules.join(', ')}`, { schedules });
    }
  }

  /**
   * Puts a schedule in place: upserts its BullMQ scheduler, or, while it is paused, keeps
   * the new timing and payload aside for `resume()` and makes sure no scheduler runs.
   */
  private async put(
    access: Access,
    id: string,
    definition: TaskDefinition,
    schedule: ResolvedSchedule,
  ): Promise<void> {
    const template = {
      name: definition.name,
      data: schedule.payload,
      opts: buildJobOptions(definition.name, definition.options, undefined),
    };
    const queue = access.queue(definition.options.queue);
    const paused = await this.paused.get(access.client, id);
    if (!paused) {
      await queue.upsertJobScheduler(id, schedule.repeat, template);
      return;
    }
    const { pattern, tz, every } = schedule.repeat;
    await this.paused.keep(access.client, id, {
      pausedAt: paused.pausedAt,
      repeat: { pattern, tz, every },
      template,
    });
    await queue.removeJobScheduler(id);
  }

  private async describe(
    access: Access,
    id: string,
    entry: OwnedScheduler,
    /** Its paused record when the caller read it already (`null`: not paused). */
    known?: PausedSchedule | null,
  ): Promise<ScheduleInfo | undefined> {
    const base = { id, taskName: entry.taskName, queue: entry.queue, source: entry.source };
    const paused = known === undefined ? await this.paused.get(access.client, id) : known;
    if (paused) {
      const { pattern, tz, every } = paused.repeat;
      return {
        ...base,
        cron: pattern,
        tz: pattern ? tz : undefined,
        everyMs: every,
        nextRunAt: undefined,
        paused: true,
        pausedAt: new Date(paused.pausedAt),
      };
    }
    const scheduler = await access.queue(entry.queue).getJobScheduler(id);
    if (!scheduler) return undefined;
    return {
      ...base,
      cron: scheduler.pattern ?? undefined,
      tz: scheduler.pattern ? (scheduler.tz ?? undefined) : undefined,
      everyMs: scheduler.every ? Number(scheduler.every) : undefined,
      nextRunAt: scheduler.next ? new Date(Number(scheduler.next)) : undefined,
      paused: false,
    };
  }

  /**
   * Declared schedulers no handler declares any more. Only those on queues this app handles
   * are ours to remove: another app sharing the prefix may declare schedules on its own queues.
   */
  private stale(
    scope: Set<string>,
    owned: Map<string, OwnedScheduler>,
  ): Array<[string, OwnedScheduler]> {
    return [...owned].filter(
      ([id, entry]) =>
        entry.source === 'declared' && !this.declared.has(id) && scope.has(entry.queue),
    );
  }

  private lock(client: RedisClient): ScheduleLock {
    return new ScheduleLock(client, this.options.keys.appKey('schedules:lock'), LOCK_TIMING);
  }

  private get ownedKey(): string {
    return this.options.keys.appKey('schedules');
  }

  private async ownedEntry(access: Access, id: string): Promise<OwnedScheduler> {
    const json = typeof id === 'string' ? await access.client.hget(this.ownedKey, id) : null;
    if (!json) throw new UnknownScheduleError(String(id));
    return JSON.parse(json) as OwnedScheduler;
  }

  private async owned(access: Access): Promise<Map<string, OwnedScheduler>> {
    const raw = await access.client.hgetall(this.ownedKey);
    return new Map(
      Object.entries(raw).map(([id, json]) => [id, JSON.parse(json) as OwnedScheduler]),
    );
  }

  private async record(access: Access, id: string, entry: OwnedScheduler): Promise<void> {
    await access.client.hset(this.ownedKey, id, JSON.stringify(entry));
  }
}

/** Checks the id of a schedule added at run time; declared schedules own `conveyor.*`. */
export function checkScheduleId(taskName: string, id: unknown): void {
  if (
    typeof id !== 'string' ||
    !SCHEDULE_ID_PATTERN.test(id) ||
    id.startsWith(DECLARED_SCHEDULE_PREFIX)
  ) {
    throw new InvalidScheduleError(
      taskName,
      `schedule id must be 1–200 characters without ':' or spaces, starting with a letter or digit, ` +
        `and must not start with '${DECLARED_SCHEDULE_PREFIX}' (reserved for declared schedules); got ${JSON.stringify(id)}`,
    );
  }
}

/** Checks a schedule's payload as every run's enqueue will. */
export async function checkSchedulePayload(
  definition: TaskDefinition,
  payload: unknown,
): Promise<void> {
  try {
    await validatePayload(definition.name, payload, definition.options);
  } catch (error) {
    throw new InvalidScheduleError(
      definition.name,
      `schedule.payload: ${(error as Error).message}`,
    );
  }
}
