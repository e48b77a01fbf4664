import { Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { type ScheduleInfo, UnknownScheduleError } from '@conveyor/tasks';
import {
  checkScheduleId,
  checkSchedulePayload,
  DECLARED_SCHEDULE_PREFIX,
  nextRunOf,
  type ResolvedSchedule,
  type TaskDefinition,
  TasksRegistry,
} from '@conveyor/tasks/internal';

/** A schedule as the testing module holds it. */
export interface HeldSchedule {
  id: string;
  taskName: string;
  queue: string;
  source: 'declared' | 'runtime';
  schedule: ResolvedSchedule;
  /** Set by `pause()`, cleared by `resume()`. */
  pausedAt?: Date;
}

/**
 * Schedules in memory, in place of `TaskSchedules`: declared ones (`@Task(ref, { schedule })`)
 * and those added with `TaskProducer.schedule()`, checked as at startup and on `schedule()`.
 * Nothing ticks by itself: `TestTasks.tick(id)` runs one occurrence.
 */
@Injectable()
export class InlineSchedules implements OnApplicationBootstrap {
  private readonly held = new Map<string, HeldSchedule>();

  constructor(private readonly registry: TasksRegistry) {}

  /** Called by the explorer for each `@Task(…, { schedule })`. */
  declare(taskName: string, schedule: ResolvedSchedule): void {
    const { queue } = this.registry.definition(taskName).options;
    const id = `${DECLARED_SCHEDULE_PREFIX}${taskName}`;
    this.held.set(id, { id, taskName, queue, source: 'declared', schedule });
  }

  /** A declared schedule's payload is checked when the app starts, as the real one is. */
  async onApplicationBootstrap(): Promise<void> {
    for (const held of this.held.values()) {
      await checkSchedulePayload(this.registry.definition(held.taskName), held.schedule.payload);
    }
  }

  async add(
    id: string,
    definition: TaskDefinition,
    schedule: ResolvedSchedule,
  ): Promise<ScheduleInfo> {
    checkScheduleId(definition.name, id);
    await checkSchedulePayload(definition, schedule.payload);
    // A paused schedule that is replaced stays paused, as on Redis.
    const held: HeldSchedule = {
      id,
      taskName: definition.name,
      queue: definition.options.queue,
      source: 'runtime',
      schedule,
      pausedAt: this.held.get(id)?.pausedAt,
    };
    this.held.set(id, held);
    return describe(held);
  }

  remove(id: string): void {
    if (this.held.get(id)?.source !== 'runtime') throw new UnknownScheduleError(String(id));
    this.held.delete(id);
  }

  /** As `TaskProducer.pauseSchedule`: a no-op when paused already. */
  pause(id: string): ScheduleInfo {
    const held = this.known(id);
    held.pausedAt ??= new Date();
    return describe(held);
  }

  /** As `TaskProducer.resumeSchedule`: a no-op when not paused. */
  resume(id: string): ScheduleInfo {
    const held = this.known(id);
    held.pausedAt = undefined;
    return describe(held);
  }

  /** The schedule `id`, or `UnknownScheduleError`. */
  known(id: string): HeldSchedule {
    const held = this.held.get(id);
    if (!held) throw new UnknownScheduleError(String(id));
    return held;
  }

  list(): ScheduleInfo[] {
    return [...this.held.values()].map(describe).sort((a, b) => a.id.localeCompare(b.id));
  }

  get(id: string): HeldSchedule | undefined {
    return this.held.get(id);
  }

  ids(): string[] {
    return [...this.held.keys()];
  }
}

function describe(held: HeldSchedule): ScheduleInfo {
  const { pattern, tz, every } = held.schedule.repeat;
  return {
    id: held.id,
    taskName: held.taskName,
    queue: held.queue,
    source: held.source,
    cron: pattern ?? undefined,
    tz: pattern ? (tz ?? undefined) : undefined,
    everyMs: every ?? undefined,
    nextRunAt: held.pausedAt ? undefined : nextRunOf(held.schedule),
    paused: held.pausedAt !== undefined,
    ...(held.pausedAt ? { pausedAt: held.pausedAt } : {}),
  };
}
