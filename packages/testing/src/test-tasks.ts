import { Injectable } from '@nestjs/common';
import {
  type EnqueueOptions,
  TaskHandle,
  TaskProducer,
  type TaskRef,
  UnknownScheduleError,
} from '@conveyor/tasks';
import { TasksRegistry } from '@conveyor/tasks/internal';
import { InlineJobs } from './inline/inline-jobs';
import { InlineSchedules } from './inline/inline-schedules';
import { InlineWorkflows } from './inline/inline-workflows';
import type { TestJob } from './inline/test-job';

/** What `drain()` ran. */
export interface DrainReport {
  /** Jobs run (a workflow's steps included). */
  ran: number;
  completed: number;
  deadLettered: number;
  cancelled: number;
}

/** Options of `drain()`. */
export interface DrainOptions {
  /** Only this queue's jobs. Workflows run whole whatever their queues. */
  queue?: string;
  /** Run delayed jobs too (after the others, soonest first). @default true */
  delayed?: boolean;
  /** Stops with an error past this many jobs: a task that enqueues itself forever. @default 10000 */
  maxJobs?: number;
}

/**
 * A test's view of the jobs of `ConveyorTestingModule`: what was enqueued and how each run
 * went, and, in manual mode, when they run.
 *
 * @example
 * await signups.register({ email: 'ada@example.com' });
 * expect(tasks.jobs(SendWelcome)).toEqual([
 *   expect.objectContaining({ payload: { email: 'ada@example.com' }, state: 'completed' }),
 * ]);
 */
@Injectable()
export class TestTasks {
  constructor(
    private readonly jobsHeld: InlineJobs,
    private readonly workflows: InlineWorkflows,
    private readonly schedules: InlineSchedules,
    private readonly producer: TaskProducer,
    private readonly registry: TasksRegistry,
  ) {}

  /** Every job enqueued since the start (or the last `clear()`), oldest first; or one task's. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- any task, whatever its payload type
  jobs(task?: TaskRef<any, any, any> | string): TestJob[] {
    const all = this.jobsHeld.all();
    if (task === undefined) return all;
    const name = typeof task === 'string' ? task : task.name;
    return all.filter((job) => job.taskName === name);
  }

  /** The job behind a handle, as it is now. */
  job<R>(handle: TaskHandle<R>): TestJob<R> | undefined {
    return this.jobsHeld.find(handle.queue, handle.id) as TestJob<R> | undefined;
  }

  /**
   * Runs waiting jobs in the order a worker would take them (no priority first, then by
   * priority, then first come), and the jobs they enqueue, until none is left. Workflows
   * started in manual mode run first. In inline mode there is usually nothing to run.
   */
  async drain(options: DrainOptions = {}): Promise<DrainReport> {
    const maxJobs = options.maxJobs ?? 10_000;
    const before = new Set(this.finishedIds());
    for (let ran = 0; ;) {
      ran += await this.workflows.runWaiting();
      const [next] = this.jobsHeld.pending(options);
      if (!next) break;
      if (++ran > maxJobs) {
        throw new Error(
          `drain() ran ${maxJobs} jobs and more keep coming (a task that enqueues itself?); raise maxJobs if this is intended`,
        );
      }
      await this.jobsHeld.run(next);
    }
    const report: DrainReport = { ran: 0, completed: 0, deadLettered: 0, cancelled: 0 };
    for (const job of this.jobsHeld.all()) {
      if (before.has(`${job.queue}\n${job.id}`) || !job.finishedAt) continue;
      // A group's collector and a fan-out are Conveyor's own jobs, not the app's.
      if (!this.registry.get(job.taskName)) continue;
      report.ran++;
      if (job.state === 'completed') report.completed++;
      if (job.state === 'dead-lettered') report.deadLettered++;
      if (job.state === 'cancelled') report.cancelled++;
    }
    return report;
  }

  /**
   * Enqueues and runs one job now, whatever the mode, and returns its result (or throws its
   * `TaskFailedError`), as `await (await producer.enqueue(…)).result()` would.
   */
  async run<P, R, H>(task: TaskRef<P, R, H>, payload: P, options?: EnqueueOptions): Promise<R>;
  async run<R = unknown>(task: string, payload: unknown, options?: EnqueueOptions): Promise<R>;
  async run(task: TaskRef | string, payload: unknown, options?: EnqueueOptions): Promise<unknown> {
    const handle = await this.producer.enqueue(task as string, payload, options);
    const job = this.jobsHeld.find(handle.queue, handle.id);
    if (job) await this.jobsHeld.run(job);
    return handle.result();
  }

  /** Runs one occurrence of a schedule (declared: `conveyor.<task>`, or your id), as its tick would. */
  async tick(scheduleId: string): Promise<TaskHandle> {
    const held = this.schedules.get(scheduleId);
    if (!held) throw new UnknownScheduleError(String(scheduleId));
    const { name } = this.registry.definition(held.taskName);
    // A scheduled run goes to its schedule's queue: the router is not asked, as on Redis.
    return this.producer.enqueue(name, held.schedule.payload, { queue: held.queue });
  }

  /** Forgets every job and every workflow not run yet. Schedules stay. */
  clear(): void {
    this.workflows.clear();
    this.jobsHeld.clear();
  }

  private finishedIds(): string[] {
    return this.jobsHeld
      .all()
      .filter((job) => job.finishedAt)
      .map((job) => `${job.queue}\n${job.id}`);
  }
}
