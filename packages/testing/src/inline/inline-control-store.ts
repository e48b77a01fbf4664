import { Injectable } from '@nestjs/common';
import type { ControlStore, StoredControls } from '@conveyor/tasks/internal';
import { InlineJobs } from './inline-jobs';

type ControlStoreApi = Pick<
  ControlStore,
  'read' | 'setConcurrency' | 'resetConcurrency' | 'pause' | 'resume' | 'paused'
>;

/**
 * `TaskControl`'s store in memory: the real `TaskControl` checks queue names and values as
 * on Redis, and this keeps what it sets. A paused queue's jobs wait (in inline mode too) and
 * run at `resume()`, or at the next `drain()` in manual mode. Concurrency overrides are kept
 * and listed; inline jobs run one at a time whatever they say.
 */
@Injectable()
export class InlineControlStore implements ControlStoreApi {
  private readonly concurrency = new Map<string, number>();

  constructor(private readonly jobs: InlineJobs) {}

  async read(): Promise<StoredControls> {
    return { concurrency: new Map(this.concurrency) };
  }

  async setConcurrency(queue: string, concurrency: number): Promise<void> {
    this.concurrency.set(queue, concurrency);
  }

  async resetConcurrency(queue: string): Promise<void> {
    this.concurrency.delete(queue);
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
