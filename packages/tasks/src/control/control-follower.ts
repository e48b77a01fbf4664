import type { Worker } from 'bullmq';
import { type ConveyorLogger, errorField } from '../logging/conveyor-logger';
import { setWorkerConcurrency, setWorkerRateLimit } from '../worker/set-concurrency';
import type { ControlStore, StoredControls, StoredRate } from './control-store';

/** What a worker of a queue runs at, as declared. */
export interface DeclaredQueue {
  concurrency: number;
  rateLimit?: { max: number; durationMs: number };
}

/**
 * Keeps this process on the run-time controls Redis holds. `refresh()` reads them all and
 * applies them: each worker's concurrency and rate limit (a queue without an override goes
 * back to its declared values), then whatever `onRead` does with the rest (task overrides,
 * see `RunControls`). Reads run one at a time (the last read wins, never an older one), and a
 * read that fails is tried again every second until one succeeds or the follower stops.
 */
export class ControlFollower {
  private refreshing?: Promise<void>;
  private again = false;
  private retry?: NodeJS.Timeout;
  private stopped = false;

  constructor(
    private readonly store: ControlStore,
    private readonly workers: ReadonlyMap<string, Worker>,
    private readonly declared: (queue: string) => DeclaredQueue,
    private readonly logger: ConveyorLogger,
    private readonly onRead: (controls: StoredControls) => Promise<void> | void = () => undefined,
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
          const controls = await this.store.read();
          if (this.stopped) return;
          for (const [queue, worker] of this.workers) this.applyTo(queue, worker, controls);
          await this.onRead(controls);
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

  private applyTo(queue: string, worker: Worker, controls: StoredControls): void {
    const declared = this.declared(queue);
    const target = controls.concurrency.get(queue) ?? declared.concurrency;
    if (worker.concurrency !== target) {
      setWorkerConcurrency(worker, target);
      this.logger.log(`queue '${queue}' now runs ${target} job(s) at once per process`, {
        queue,
        concurrency: target,
      });
    }
    const rate: StoredRate | undefined =
      controls.queueRates.get(queue) ??
      (declared.rateLimit && { max: declared.rateLimit.max, perMs: declared.rateLimit.durationMs });
    if (setWorkerRateLimit(worker, rate)) {
      this.logger.log(
        rate
          ? `queue '${queue}' now starts at most ${rate.max} job(s) per ${rate.perMs} ms`
          : `queue '${queue}' now has no rate limit`,
        { queue, rateLimit: rate ?? null },
      );
    }
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.retry);
  }
}
