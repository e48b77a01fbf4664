import type { Job } from 'bullmq';
import type { SignalSource } from './task-context';

/**
 * One run in progress. It holds the run's abort state and the ways to stop it from outside:
 * `abort()` asks the handler to stop (its signal aborts), `interrupt()` ends the run at once
 * whatever the handler does. The `AbortController` behind `signal` is made only when a
 * handler reads it: most never do, and Node's controllers are not free.
 */
export class InFlightRun implements SignalSource {
  private controller?: AbortController;
  private stopped?: { reason: unknown };
  private interrupted?: { error: unknown };
  private rejectOutcome?: (error: unknown) => void;

  constructor(
    readonly job: Job,
    readonly token: string | undefined,
  ) {}

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.stopped) this.controller.abort(this.stopped.reason);
    }
    return this.controller.signal;
  }

  /** Asks the handler to stop: its signal aborts with `reason`. The first reason wins. */
  abort(reason: unknown): void {
    if (this.stopped) return;
    this.stopped = { reason };
    this.controller?.abort(reason);
  }

  /** Ends the run with `error` now, or before its handler starts if it has not yet. */
  interrupt(error: unknown): void {
    if (this.interrupted) return;
    this.interrupted = { error };
    this.rejectOutcome?.(error);
  }

  /** Throws the interruption, if there was one, so a handler never starts after it. */
  throwIfInterrupted(): void {
    if (this.interrupted) throw this.interrupted.error;
  }

  /**
   * The handler's outcome, or the interruption if it comes first. A handler that settles
   * after an interruption is ignored (and its rejection handled).
   */
  outcome<T>(handler: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.rejectOutcome = reject;
      handler.then(resolve, reject);
    });
  }
}
