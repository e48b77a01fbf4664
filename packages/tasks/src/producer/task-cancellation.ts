import { Injectable } from '@nestjs/common';
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
 * announced on a Redis channel that every worker process listens to, and the process that
 * runs it aborts `ctx.signal` and ends the job as cancelled. A cancelled job leaves a marker
 * (kept 7 days) so handles report `cancelled` rather than `unknown`.
 */
@Injectable()
export class TaskCancellation {
  constructor(
    private readonly queues: ConveyorQueues,
    private readonly redis: RedisConnections,
  ) {}

  get channel(): string {
    return `${this.queues.prefix}:conveyor:cancel`;
  }

  markerKey(queue: string, jobId: string): string {
    return `${this.queues.prefix}:conveyor:cancelled:${queue}:${jobId}`;
  }

  async cancel(queue: string, jobId: string, reason = 'cancelled'): Promise<CancelOutcome> {
    const bullQueue = this.queues.queue(queue);
    const state = await bullQueue.getJobState(jobId);
    if (state === 'unknown') return (await this.reason(queue, jobId)) ? 'finished' : 'not-found';
    if (state === 'completed' || state === 'failed') return 'finished';
    if (state !== 'active') {
      await this.mark(queue, jobId, reason);
      // remove() refuses a job that a worker locked meanwhile; then it is running: signal it.
      const removed = await bullQueue.remove(jobId).catch(() => 0);
      if (removed) return 'removed';
    }
    await this.mark(queue, jobId, reason);
    await this.redis.client.publish(this.channel, JSON.stringify({ queue, jobId, reason }));
    return 'signalled';
  }

  /** Why the job was cancelled, if it was. */
  reason(queue: string, jobId: string): Promise<string | null> {
    return this.redis.client.get(this.markerKey(queue, jobId));
  }

  async mark(queue: string, jobId: string, reason: string): Promise<void> {
    await this.redis.client.set(this.markerKey(queue, jobId), reason, 'EX', MARK_TTL_SECONDS);
  }
}
