import { Injectable } from '@nestjs/common';
import {
  type DeadLetter,
  type DeadLetterFilter,
  DeadLetterNotFoundError,
  type DeadLetters,
  type ReplayReport,
  TaskHandle,
  UnknownTaskError,
} from '@conveyor/tasks';
import {
  checkKnownQueue,
  checkPage,
  matchesDeadLetter,
  purgeEach,
  replayEach,
  TasksRegistry,
} from '@conveyor/tasks/internal';
import { InlineJobs } from './inline-jobs';
import type { TestJob } from './test-job';

type DeadLettersApi = { [K in keyof DeadLetters]: DeadLetters[K] };

/**
 * What the testing module provides as `DeadLetters`: the jobs run here that failed for good,
 * with the same queries, checks and errors. A replay runs the job again at once in inline
 * mode, and queues it for `TestTasks.drain()` in manual mode.
 */
@Injectable()
export class InlineDeadLetters implements DeadLettersApi {
  constructor(
    private readonly jobs: InlineJobs,
    private readonly registry: TasksRegistry,
  ) {}

  queueNames(): string[] {
    return this.registry.knownQueues();
  }

  async count(queue?: string): Promise<number> {
    const names = queue === undefined ? this.queueNames() : [this.checkQueue(queue)];
    return this.dead().filter((job) => names.includes(job.queue)).length;
  }

  async list(queue: string, page: { offset?: number; limit?: number } = {}): Promise<DeadLetter[]> {
    const { offset, limit } = checkPage(page);
    this.checkQueue(queue);
    return this.dead()
      .filter((job) => job.queue === queue)
      .reverse()
      .slice(offset, offset + limit)
      .map(toDeadLetter);
  }

  async show(queue: string, id: string): Promise<DeadLetter | undefined> {
    const job = this.jobs.find(this.checkQueue(queue), id);
    return job?.state === 'dead-lettered' ? toDeadLetter(job) : undefined;
  }

  async replay(queue: string, id: string): Promise<TaskHandle> {
    const letter = await this.show(queue, id);
    if (!letter) throw new DeadLetterNotFoundError(queue, id);
    if (!this.registry.get(letter.taskName)) {
      throw new UnknownTaskError(letter.taskName, this.registry.names());
    }
    await this.jobs.replay(queue, id);
    return new TaskHandle(
      id,
      letter.taskName,
      queue,
      this.jobs,
      this.jobs.keepsResult(letter.taskName),
    );
  }

  async replayWhere(queue: string, filter: DeadLetterFilter = {}): Promise<ReplayReport> {
    return replayEach(await this.matching(queue, filter), (id) => this.replay(queue, id));
  }

  async purge(queue: string, id: string): Promise<boolean> {
    if (!(await this.show(queue, id))) return false;
    return this.jobs.remove(queue, id);
  }

  async purgeWhere(queue: string, filter: DeadLetterFilter = {}): Promise<number> {
    return purgeEach(await this.matching(queue, filter), (id) => this.purge(queue, id));
  }

  private async matching(queue: string, filter: DeadLetterFilter): Promise<DeadLetter[]> {
    this.checkQueue(queue);
    return this.dead()
      .filter((job) => job.queue === queue)
      .map(toDeadLetter)
      .filter((letter) => matchesDeadLetter(letter, filter));
  }

  /** Dead-lettered jobs, in the order they failed. */
  private dead(): TestJob[] {
    return this.jobs
      .all()
      .filter((job) => job.state === 'dead-lettered' && job.workflowId === undefined)
      .sort((a, b) => (a.finishedAt?.getTime() ?? 0) - (b.finishedAt?.getTime() ?? 0));
  }

  private checkQueue(queue: string): string {
    return checkKnownQueue(queue, this.queueNames());
  }
}

function toDeadLetter(job: TestJob): DeadLetter {
  return {
    id: job.id,
    queue: job.queue,
    taskName: job.taskName,
    payload: job.payload,
    options: {
      attempts: job.attempts,
      priority: job.priority || undefined,
      delay: job.delayMs || undefined,
    },
    error: { ...job.error! },
    attemptsMade: job.attemptsMade,
    enqueuedAt: job.enqueuedAt,
    lastRunAt: job.startedAt,
    failedAt: job.finishedAt,
  };
}
