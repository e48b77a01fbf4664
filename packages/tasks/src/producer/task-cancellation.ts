import { join } from 'node:path';
import { Injectable } from '@nestjs/common';
import { defineScripts } from '../redis/lua-scripts';
import { ConveyorQueues } from './conveyor-queues';
import { RedisConnections } from '../redis/redis-connections';

/** What `cancel()` did. */
export type CancelOutcome =
  /** The job was waiting or delayed and is gone. */
  | 'removed'
  /** The job is running; its worker has been told to abort it. */
  | 'signalled'
  /** The job had already finished (completed or dead-lettered); nothing changed. */
  | 'finished'
  | 'not-found';

const MARK_TTL_SECONDS = 7 * 24 * 3600;

/**
 * Cancels jobs from any process. A waiting or delayed job is removed; a running one is
 * flagged in Redis (every later delivery of it, after a restart or a stalled lock, ends
 * cancelled before its handler) and announced on a channel that every worker process
 * listens to, and the process that runs it aborts `ctx.signal` and ends the job as
 * cancelled. A cancelled job leaves a marker (kept 7 days) so handles report `cancelled`
 * rather than `unknown`. A job that finished first is reported `finished`, and stays so.
 */
@Injectable()
export class TaskCancellation {
  private scripts?: { cancel(routeKey: string, ...args: (string | number)[]): Promise<unknown> };

  constructor(
    private readonly queues: ConveyorQueues,
    private readonly redis: RedisConnections,
  ) {}

  get channel(): string {
    return this.queues.keys.appKey('cancel');
  }

  async cancel(queue: string, jobId: string, reason = 'cancelled'): Promise<CancelOutcome> {
    const key = this.queues.keys.queueKey(queue);
    this.scripts ??= defineScripts(this.redis.client, join(__dirname, 'lua'), ['cancel']);
    const marked = (await this.scripts.cancel(
      `${key}${jobId}`,
      key,
      jobId,
      reason,
      MARK_TTL_SECONDS,
    )) as 'finished' | 'missing' | 'marked';
    if (marked === 'finished') return 'finished';
    if (marked === 'missing') return (await this.reason(queue, jobId)) ? 'finished' : 'not-found';
    // remove() refuses a job that a worker has locked: then it is running, and is signalled.
    const removed = await this.queues
      .queue(queue)
      .remove(jobId)
      .catch(() => 0);
    if (removed) return 'removed';
    await this.redis.client.publish(this.channel, JSON.stringify({ queue, jobId, reason }));
    return 'signalled';
  }

  /** Why the job was cancelled, if it was. */
  reason(queue: string, jobId: string): Promise<string | null> {
    return this.redis.client.get(`${this.queues.keys.queueKey(queue)}cv:cancelled:${jobId}`);
  }
}

/** The cancel flag `cancel.lua` leaves in a job's stored options, read at each fetch. */
export function cancelReasonOf(opts: object): string | undefined {
  const reason = (opts as { cvCancel?: unknown }).cvCancel;
  return typeof reason === 'string' ? reason : undefined;
}
