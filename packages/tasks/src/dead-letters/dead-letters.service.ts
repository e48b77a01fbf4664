import { Injectable } from '@nestjs/common';
import { Job } from 'bullmq';
import { DeadLetterNotFoundError, InvalidTaskOptionsError, UnknownTaskError } from '../errors';
import { ConveyorQueues } from '../producer/conveyor-queues';
import { finalError } from '../producer/final-error';
import { JobResults } from '../producer/job-results';
import { UNCOUNTED_FIELD } from '../outcome/run-outcome';
import { RedisConnections } from '../redis/redis-connections';
import { TaskHandle } from '../producer/task-handle';
import { TasksRegistry } from '../tasks.registry';
import type { DeadLetter, DeadLetterFilter, ReplayReport } from './dead-letter.interface';

const PAGE = 500;

/**
 * The dead-letter store of each queue: jobs whose attempts are spent, that threw an
 * unrecoverable error, whose task is unknown, or whose workers died too often. They are kept
 * (BullMQ's `failed` set, never trimmed by default) until replayed or purged.
 *
 * @example
 * const page = await deadLetters.list('email', { offset: 0, limit: 20 });
 * await deadLetters.replay('email', page[0].id);
 * await deadLetters.replayWhere('email', { errorName: 'TimeoutError' });
 * await deadLetters.purgeWhere('email', { failedBefore: new Date(Date.now() - 30 * 86_400_000) });
 */
@Injectable()
export class DeadLetters {
  constructor(
    private readonly queues: ConveyorQueues,
    private readonly registry: TasksRegistry,
    private readonly results: JobResults,
    private readonly redis: RedisConnections,
  ) {}

  /** Queues this app knows: declared ones and those its handlers route to. */
  queueNames(): string[] {
    return this.registry.knownQueues();
  }

  /** Dead letters in one queue, or in every known queue. */
  async count(queue?: string): Promise<number> {
    const names = queue === undefined ? this.queueNames() : [this.checkQueue(queue)];
    const counts = await Promise.all(names.map((name) => this.queues.queue(name).getFailedCount()));
    return counts.reduce((a, b) => a + b, 0);
  }

  /** A page of dead letters, most recent first. */
  async list(queue: string, page: { offset?: number; limit?: number } = {}): Promise<DeadLetter[]> {
    const { offset, limit } = checkPage(page);
    const jobs = await this.queues
      .queue(this.checkQueue(queue))
      .getFailed(offset, offset + limit - 1);
    return jobs.filter(Boolean).map((job) => toDeadLetter(queue, job));
  }

  async show(queue: string, id: string): Promise<DeadLetter | undefined> {
    const job = await this.failedJob(queue, id);
    return job && toDeadLetter(queue, job);
  }

  /**
   * Runs a dead letter again with fresh attempts and the same payload and id. A task this app
   * no longer knows is refused with `UnknownTaskError`, and the entry stays.
   */
  async replay(queue: string, id: string): Promise<TaskHandle> {
    const job = await this.failedJob(queue, id);
    if (!job) throw new DeadLetterNotFoundError(queue, id);
    const task = this.registry.get(job.name);
    if (!task) throw new UnknownTaskError(job.name, this.registry.names());
    // Fresh attempts, and fresh uncounted retries (RetryTaskError { countAttempt: false }).
    await this.redis.client.hdel(`${job.queueQualifiedName}:${id}`, UNCOUNTED_FIELD);
    await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
    const keepsResult = task.options.removeOnComplete !== true;
    return new TaskHandle(id, job.name, queue, this.results, keepsResult);
  }

  /** Replays every dead letter of the queue that matches the filter (all when left out). */
  async replayWhere(queue: string, filter: DeadLetterFilter = {}): Promise<ReplayReport> {
    return replayEach(await this.matching(queue, filter), (id) => this.replay(queue, id));
  }

  /** Deletes one dead letter. Returns false when there was none. */
  async purge(queue: string, id: string): Promise<boolean> {
    const job = await this.failedJob(queue, id);
    if (!job) return false;
    await job.remove();
    return true;
  }

  /** Deletes every dead letter of the queue that matches the filter (all when left out). */
  async purgeWhere(queue: string, filter: DeadLetterFilter = {}): Promise<number> {
    return purgeEach(await this.matching(queue, filter), (id) => this.purge(queue, id));
  }

  private async matching(queue: string, filter: DeadLetterFilter): Promise<DeadLetter[]> {
    const all: DeadLetter[] = [];
    for (let offset = 0; ; offset += PAGE) {
      const page = await this.list(queue, { offset, limit: PAGE });
      all.push(...page.filter((letter) => matchesDeadLetter(letter, filter)));
      if (page.length < PAGE) return all;
    }
  }

  private async failedJob(queue: string, id: string): Promise<Job | undefined> {
    const bullQueue = this.queues.queue(this.checkQueue(queue));
    if ((await bullQueue.getJobState(id)) !== 'failed') return undefined;
    return (await Job.fromId(bullQueue, id)) ?? undefined;
  }

  private checkQueue(queue: string): string {
    return checkKnownQueue(queue, this.queueNames());
  }
}

/** `queue`, if the app knows it; else `InvalidTaskOptionsError` listing those it knows. */
export function checkKnownQueue(queue: unknown, known: readonly string[]): string {
  if (typeof queue !== 'string' || !known.includes(queue)) {
    throw new InvalidTaskOptionsError(
      undefined,
      `unknown queue ${JSON.stringify(queue)}; this app knows: ${known.join(', ')}`,
    );
  }
  return queue;
}

function toDeadLetter(queue: string, job: Job): DeadLetter {
  return {
    id: job.id!,
    queue,
    taskName: job.name,
    payload: job.data,
    options: {
      attempts: job.opts.attempts ?? 1,
      priority: job.opts.priority,
      delay: job.opts.delay,
    },
    error: finalError(job),
    attemptsMade: job.attemptsMade,
    enqueuedAt: new Date(job.timestamp),
    lastRunAt: job.processedOn ? new Date(job.processedOn) : undefined,
    failedAt: job.finishedOn ? new Date(job.finishedOn) : undefined,
  };
}

export function matchesDeadLetter(letter: DeadLetter, filter: DeadLetterFilter): boolean {
  const failedAt = letter.failedAt?.getTime() ?? 0;
  return (
    (filter.taskName === undefined || letter.taskName === filter.taskName) &&
    (filter.errorName === undefined || letter.error.name === filter.errorName) &&
    (filter.messageIncludes === undefined ||
      letter.error.message.includes(filter.messageIncludes)) &&
    (filter.failedBefore === undefined || failedAt < filter.failedBefore.getTime()) &&
    (filter.failedAfter === undefined || failedAt > filter.failedAfter.getTime())
  );
}

/** A page of a dead-letter listing, checked: offset ≥ 0, limit 1–1000 (default 50). */
export function checkPage(page: { offset?: number; limit?: number }): {
  offset: number;
  limit: number;
} {
  const offset = page.offset ?? 0;
  const limit = page.limit ?? 50;
  if (
    !Number.isInteger(offset) ||
    offset < 0 ||
    !Number.isInteger(limit) ||
    limit < 1 ||
    limit > 1000
  ) {
    throw new InvalidTaskOptionsError(
      undefined,
      'page needs an integer offset ≥ 0 and limit from 1 to 1000',
    );
  }
  return { offset, limit };
}

/** Replays letters one by one; one refused (its reason kept) does not stop the others. */
export async function replayEach(
  letters: readonly DeadLetter[],
  replay: (id: string) => Promise<unknown>,
): Promise<ReplayReport> {
  const report: ReplayReport = { replayed: [], refused: [] };
  for (const letter of letters) {
    try {
      await replay(letter.id);
      report.replayed.push(letter.id);
    } catch (error) {
      report.refused.push({ id: letter.id, reason: (error as Error).message });
    }
  }
  return report;
}

/** Purges letters one by one; returns how many were still there to purge. */
export async function purgeEach(
  letters: readonly DeadLetter[],
  purge: (id: string) => Promise<boolean>,
): Promise<number> {
  let purged = 0;
  for (const letter of letters) if (await purge(letter.id)) purged++;
  return purged;
}
