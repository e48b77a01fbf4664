import { Injectable } from '@nestjs/common';
import type {
  ControlStore,
  StoredControls,
  StoredRate,
  TaskOverrides,
} from '@conveyor/tasks/internal';
import { InlineJobs } from './inline-jobs';

type ControlStoreApi = Pick<
  ControlStore,
  | 'read'
  | 'setConcurrency'
  | 'resetConcurrency'
  | 'setQueueRate'
  | 'setQueueMaxConcurrent'
  | 'queueMaxConcurrent'
  | 'setTask'
  | 'pause'
  | 'resume'
  | 'paused'
>;

/**
 * `TaskControl`'s store in memory: the real `TaskControl` checks queue and task names and
 * values as on Redis, and this keeps what it sets. A paused queue's or task's jobs wait (in
 * inline mode too) and run at the resume, or at the next `drain()` in manual mode. Limit
 * overrides are kept and listed; inline jobs run one at a time whatever they say.
 */
@Injectable()
export class InlineControlStore implements ControlStoreApi {
  private readonly concurrency = new Map<string, number>();
  private readonly queueRates = new Map<string, StoredRate>();
  private readonly queueMax = new Map<string, number>();
  private readonly tasks = new Map<string, TaskOverrides>();
  private version = 0;

  constructor(private readonly jobs: InlineJobs) {}

  async read(): Promise<StoredControls> {
    const tasks = new Map<string, TaskOverrides>();
    for (const [name, overrides] of this.tasks) tasks.set(name, { ...overrides });
    return {
      concurrency: new Map(this.concurrency),
      queueRates: new Map(this.queueRates),
      tasks,
      version: this.version,
    };
  }

  async setConcurrency(queue: string, concurrency: number): Promise<void> {
    this.concurrency.set(queue, concurrency);
    this.version++;
  }

  async resetConcurrency(queue: string): Promise<void> {
    this.concurrency.delete(queue);
    this.version++;
  }

  async setQueueRate(queue: string, rate: StoredRate | undefined): Promise<void> {
    if (rate) this.queueRates.set(queue, rate);
    else this.queueRates.delete(queue);
    this.version++;
  }

  async setQueueMaxConcurrent(queue: string, max: number | undefined): Promise<void> {
    if (max === undefined) this.queueMax.delete(queue);
    else this.queueMax.set(queue, max);
  }

  async queueMaxConcurrent(queues: readonly string[]): Promise<(number | undefined)[]> {
    return queues.map((queue) => this.queueMax.get(queue));
  }

  async setTask<K extends keyof TaskOverrides>(
    task: string,
    override: K,
    value: TaskOverrides[K] | undefined,
  ): Promise<number> {
    const overrides = { ...this.tasks.get(task) };
    if (value === undefined || value === false) delete overrides[override];
    else overrides[override] = value;
    if (Object.keys(overrides).length) this.tasks.set(task, overrides);
    else this.tasks.delete(task);
    if (override === 'paused') {
      if (value) this.jobs.pauseTask(task);
      else await this.jobs.resumeTask(task);
    }
    return ++this.version;
  }

  async pause(queue: string): Promise<void> {
    this.jobs.pause(queue);
  }

  async resume(queue: string): Promise<void> {
    await this.jobs.resume(queue);
  }

  async paused(queues: readonly string[]): Promise<boolean[]> {
    return queues.map((queue) => this.jobs.isPaused(queue));
  }
}
