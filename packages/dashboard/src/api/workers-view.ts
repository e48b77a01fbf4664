import { Injectable } from '@nestjs/common';
import { type WorkerInfo, Workers } from '@conveyor/tasks';
import { TasksRegistry } from '@conveyor/tasks/internal';

/** Live worker processes of one queue, summed, as `GET workers?by=queue` lists them. */
export interface QueueWorkers {
  queue: string;
  /** Live worker processes that take the queue's jobs (not shutting down). */
  workers: number;
  /** Live processes shutting down: they take no new job, and finish the ones they run. */
  stopping: number;
  /** Jobs of the queue the `workers` run at once, summed. */
  concurrency: number;
  /** Jobs of the queue running now in every live process (as of each one's last heartbeat). */
  running: number;
}

/** The workers view: the live worker processes from `Workers` (their heartbeats in Redis). */
@Injectable()
export class WorkersView {
  constructor(
    private readonly workers: Workers,
    private readonly registry: TasksRegistry,
  ) {}

  /** Every live worker process, oldest first. */
  async list(): Promise<{ workers: WorkerInfo[] }> {
    return { workers: await this.workers.list() };
  }

  /**
   * Live workers per queue: every queue this app knows (0 where none consumes it) and any
   * other queue a live worker of the same prefix consumes, by name.
   */
  async byQueue(): Promise<{ queues: QueueWorkers[] }> {
    const sums = workersByQueue(await this.workers.list(), this.registry.knownQueues());
    return { queues: [...sums.values()].sort((a, b) => a.queue.localeCompare(b.queue)) };
  }
}

/**
 * Live worker processes summed per queue: `known` queues first (0 where none consumes them),
 * then any other queue a live worker consumes. A process shutting down counts as `stopping`,
 * not as a worker of the queue. Shared by the overview and `GET workers?by=queue`.
 */
export function workersByQueue(
  workers: readonly WorkerInfo[],
  known: readonly string[] = [],
): Map<string, QueueWorkers> {
  const sums = new Map<string, QueueWorkers>();
  const row = (queue: string) => {
    let sum = sums.get(queue);
    if (!sum) {
      sum = { queue, workers: 0, stopping: 0, concurrency: 0, running: 0 };
      sums.set(queue, sum);
    }
    return sum;
  };
  for (const queue of known) row(queue);
  for (const worker of workers) {
    for (const queue of worker.queues) {
      const sum = row(queue.name);
      if (worker.stopping) {
        sum.stopping++;
      } else {
        sum.workers++;
        sum.concurrency += queue.concurrency;
      }
      sum.running += queue.running;
    }
  }
  return sums;
}
