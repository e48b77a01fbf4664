import { Injectable } from '@nestjs/common';
import { RunAdmission } from '../admission/run-admission';
import { ConveyorLogger, errorField } from '../logging/conveyor-logger';
import type { ResolvedTaskOptions } from '../options/task-options';
import { type RegisteredTask, TasksRegistry } from '../tasks.registry';
import type { StoredControls, TaskOverrides } from './control-store';

/** The gate of a paused task's jobs in each queue (see `admission/lua/gate.lua`). */
export const pauseGate = (task: string) => `p:${task}`;

/**
 * This process's view of the task overrides `TaskControl` keeps in Redis, as the worker runs
 * by it: a task's limits with its overrides applied, and whether it is paused. On every read
 * (`ControlFollower`) it also brings the jobs already parked in the queues this process
 * consumes up to date: lines of a task whose limits changed get the new limits and are woken
 * (`RunAdmission.retune`), and a resumed task's gate opens (`RunAdmission.setGate`). Every
 * worker process does so for its queues, so a change never depends on one process surviving.
 */
@Injectable()
export class RunControls {
  private readonly logger = new ConveyorLogger('Conveyor');
  private overrides = new Map<string, TaskOverrides>();
  private readonly merged = new Map<string, ResolvedTaskOptions>();
  private versionRead = 0;
  private first = true;

  constructor(
    private readonly registry: TasksRegistry,
    private readonly admission: RunAdmission,
  ) {}

  /** The generation of the controls this process runs by. */
  get version(): number {
    return this.versionRead;
  }

  /** `task`'s options as it runs now: its declared limits, or the overrides of them. */
  optionsOf(task: RegisteredTask): ResolvedTaskOptions {
    if (!this.merged.size) return task.options;
    return this.merged.get(task.name) ?? task.options;
  }

  isPaused(task: string): boolean {
    return this.overrides.get(task)?.paused === true;
  }

  /**
   * Takes the controls just read. `consumed`: the queues this process's workers take jobs
   * from, whose parked jobs it brings up to date. The first read looks at every task (a
   * change may have been made while no worker ran); later ones at the tasks that changed.
   */
  async apply(controls: StoredControls, consumed: readonly string[]): Promise<void> {
    const before = this.overrides;
    // The first read looks at every task, unless no control was ever written (version 0):
    // then no line was retuned and no task paused, and start-up sends nothing.
    const all = this.first && controls.version > 0;
    this.first = false;
    this.overrides = controls.tasks;
    this.versionRead = controls.version;
    this.merged.clear();
    for (const [name, overrides] of controls.tasks) {
      const task = this.registry.get(name);
      if (task) this.merged.set(name, withOverrides(task.options, overrides));
    }

    const updates: Promise<unknown>[] = [];
    for (const task of this.registry.all()) {
      const was = before.get(task.name) ?? {};
      const now = controls.tasks.get(task.name) ?? {};
      const queues = this.registry.queuesOf(task).filter((q) => consumed.includes(q));
      if (!queues.length) continue;
      const options = this.optionsOf(task);
      if (all || !sameLimits(was, now)) {
        for (const queue of queues) {
          updates.push(
            this.admission.retune(queue, task.name, options.maxConcurrent ?? 0, options.rateLimit),
          );
        }
      }
      if (!now.paused && (all || was.paused)) {
        for (const queue of queues) {
          updates.push(
            this.admission.setGate(queue, pauseGate(task.name), 'open', controls.version),
          );
        }
      }
    }
    const failed = (await Promise.allSettled(updates)).find((r) => r.status === 'rejected');
    if (failed) {
      const error = (failed as PromiseRejectedResult).reason as Error;
      this.logger.warn(
        `could not bring parked jobs up to date with run-time controls (the next read tries again): ${error.message}`,
        { error: errorField(error) },
      );
      // Looked at in full on the next read.
      this.first = true;
    }
  }
}

/**
 * A task's options with run-time overrides. A `singleton` or `lock` task keeps its one slot
 * (TaskControl refuses to change it); its rate limit may change.
 */
function withOverrides(
  options: ResolvedTaskOptions,
  overrides: TaskOverrides,
): ResolvedTaskOptions {
  return {
    ...options,
    maxConcurrent:
      overrides.maxConcurrent !== undefined && !options.exclusive
        ? overrides.maxConcurrent
        : options.maxConcurrent,
    rateLimit: overrides.rateLimit ?? options.rateLimit,
  };
}

function sameLimits(a: TaskOverrides, b: TaskOverrides): boolean {
  return (
    a.maxConcurrent === b.maxConcurrent &&
    a.rateLimit?.max === b.rateLimit?.max &&
    a.rateLimit?.perMs === b.rateLimit?.perMs
  );
}
