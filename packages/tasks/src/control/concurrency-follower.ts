import type { Worker } from 'bullmq';
import { type ConveyorLogger, errorField } from '../logging/conveyor-logger';
import { setWorkerConcurrency } from '../worker/set-concurrency';
import type { ControlStore } from './control-store';

/**
 * Keeps this process's workers on the concurrency Redis holds for their queues. `refresh()`
 * reads the overrides and applies them: a queue without one goes back to its declared value.
 * Reads run one at a time (the last read wins, never an older one), and a read that fails is
 * tried again every second until one succeeds or the follower stops.
 */
export class ConcurrencyFollower {
  private refreshing?: Promise<void>;
  private again = false;
  private retry?: NodeJS.Timeout;
  private stopped = false;

  constructor(
    private readonly store: ControlStore,
    private readonly workers: ReadonlyMap<string, Worker>,
    private readonly declared: (queue: string) => number,
    private readonly logger: ConveyorLogger,
  ) {}

  refresh(): void {
    if (this.stopped) return;
    if (this.refreshing) {
      this.again = true;
      return;
    }
    this.refreshing = (async () => {
      do {
        this.again = false;
        try {
          const { concurrency } = await this.store.read();
          if (this.stopped) return;
          for (const [queue, worker] of this.workers) {
            const target = concurrency.get(queue) ?? this.declared(queue);
            if (worker.concurrency === target) continue;
            setWorkerConcurrency(worker, target);
            this.logger.log(`queue '${queue}' now runs ${target} job(s) at once per process`, {
              queue,
              concurrency: target,
            });
          }
        } catch (error) {
          if (this.stopped) return;
          this.logger.warn(`cannot read run-time controls: ${(error as Error).message}`, {
            error: errorField(error),
          });
          clearTimeout(this.retry);
          this.retry = setTimeout(() => this.refresh(), 1_000);
          this.retry.unref();
          return;
        }
      } while (this.again);
    })().finally(() => (this.refreshing = undefined));
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.retry);
  }
}
