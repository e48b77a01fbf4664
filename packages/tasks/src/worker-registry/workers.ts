import { Injectable } from '@nestjs/common';
import { InvalidTaskOptionsError } from '../errors';
import type { Duration } from '../interfaces/duration.interface';
import { describe, parseDuration, type Fail } from '../options/validation';
import type { ActiveJob, PingReply, WorkerInfo } from './worker-info.interface';
import { WorkerStore } from './worker-store';

const MAX_PING_MS = 60_000;

/**
 * The worker processes of the app (every process with the same `prefix` that consumes at
 * least one queue), from any process. Each worker process writes an entry to Redis every
 * `heartbeat.interval`, with a TTL of `heartbeat.ttl`, and removes it when it shuts down; a
 * process that dies drops out once its entry expires.
 *
 * @example
 * constructor(private readonly workers: Workers) {}
 *
 * const live = await this.workers.list();      // host, pid, version, queues, running jobs
 * const answers = await this.workers.ping('1s'); // every process that answers within 1 s
 * const jobs = await this.workers.active('email'); // what runs now, and where
 */
@Injectable()
export class Workers {
  constructor(private readonly store: WorkerStore) {}

  /** The live worker processes, oldest first; with `queue`, those that consume it. */
  async list(queue?: string): Promise<WorkerInfo[]> {
    const name = checkQueueFilter(queue, 'list');
    const workers = await this.store.list();
    return name === undefined
      ? workers
      : workers.filter((worker) => worker.queues.some((q) => q.name === name));
  }

  /**
   * Asks every worker process to answer now, over Redis pub/sub, and resolves after `timeout`
   * with the answers that came (a process that is alive but stuck answers late or never).
   *
   * @param timeout how long to collect answers, up to 60s. @default '1s'
   */
  async ping(timeout: Duration = '1s'): Promise<PingReply[]> {
    const fail: Fail = (problem) => {
      throw new InvalidTaskOptionsError(undefined, `${problem} (Workers.ping)`);
    };
    const ms = parseDuration(timeout, 'timeout', fail);
    if (ms < 1 || ms > MAX_PING_MS) {
      fail(`timeout must be from 1 ms to 60s, got ${describe(timeout)}`);
    }
    return this.store.ping(ms);
  }

  /**
   * The jobs running now in every worker process (as of each one's last heartbeat), oldest
   * first; with `queue`, that queue's only.
   */
  async active(queue?: string): Promise<ActiveJob[]> {
    const name = checkQueueFilter(queue, 'active');
    const jobs: ActiveJob[] = [];
    for (const worker of await this.store.list()) {
      for (const run of worker.running) {
        if (name !== undefined && run.queue !== name) continue;
        jobs.push({ ...run, worker: worker.id, host: worker.host, pid: worker.pid });
      }
    }
    return jobs.sort((a, b) => a.startedAt.getTime() - b.startedAt.getTime());
  }
}

function checkQueueFilter(queue: unknown, method: string): string | undefined {
  if (queue === undefined) return undefined;
  if (typeof queue === 'string' && queue !== '') return queue;
  throw new InvalidTaskOptionsError(
    undefined,
    `queue must be a queue name, got ${queue === null ? 'null' : typeof queue} (Workers.${method})`,
  );
}
