import type { Job } from 'bullmq';
import { TaskTimeoutError } from '../errors';
import type { SignalSource } from './task-context';

/** A run's time limits, from its task's options. */
export interface RunLimits {
  timeoutMs?: number;
  hardTimeoutMs?: number;
}

/**
 * One run in progress. It holds the run's abort state and the ways to stop it from outside:
 * `abort()` asks the handler to stop (its signal aborts), `interrupt()` ends the run at once
 * whatever the handler does. An interrupted handler may go on running: `stopped` says when it
 * really has, which is when the run's slots may be given back. The `AbortController` behind
 * `signal` is made only when a handler reads it: most never do, and Node's are not free.
 */
export class InFlightRun<J extends { id?: string } = Job> implements SignalSource {
  /** Set when shutdown gives the job back: the run's end is then not a failure. */
  handingBack = false;
  private controller?: AbortController;
  private stopping?: { reason: unknown };
  private interrupted?: { error: unknown };
  private rejectOutcome?: (error: unknown) => void;
  private handler?: Promise<unknown>;
  private handlerSettled = false;

  constructor(
    readonly job: J,
    readonly token: string | undefined,
  ) {}

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.stopping) this.controller.abort(this.stopping.reason);
    }
    return this.controller.signal;
  }

  /** Asks the handler to stop: its signal aborts with `reason`. The first reason wins. */
  abort(reason: unknown): void {
    if (this.stopping) return;
    this.stopping = { reason };
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

  /** True once the handler has returned or thrown (or when it never started). */
  get handlerStopped(): boolean {
    return !this.handler || this.handlerSettled;
  }

  /** Resolves when the handler has returned or thrown, however long after the run ended. */
  whenHandlerStops(): Promise<void> {
    return this.handler ? this.handler.then(noop, noop) : Promise.resolve();
  }

  /**
   * Starts the handler under its time limits and resolves with its outcome, or rejects with
   * the interruption if one comes first (the soft limit aborts the signal; the hard one also
   * interrupts). A handler that settles after an interruption is ignored. With `stopHandler`
   * (a handler in a worker thread, which can be terminated), the hard limit calls it instead
   * of interrupting: the run ends when the handler has really stopped, with the limit's error.
   */
  execute<T>(
    taskName: string,
    limits: RunLimits,
    start: () => Promise<T>,
    stopHandler?: (reason: TaskTimeoutError) => void,
  ): Promise<T> {
    const { timeoutMs, hardTimeoutMs } = limits;
    const soft =
      timeoutMs === undefined
        ? undefined
        : setTimeout(
            () => this.abort(new TaskTimeoutError(taskName, timeoutMs, 'soft')),
            timeoutMs,
          );
    const hard =
      hardTimeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            const error = new TaskTimeoutError(taskName, hardTimeoutMs, 'hard');
            this.abort(error);
            if (stopHandler) stopHandler(error);
            else this.interrupt(error);
          }, hardTimeoutMs);
    const handler = (this.handler = start());
    const settle = () => {
      this.handlerSettled = true;
      clearTimeout(soft);
      clearTimeout(hard);
    };
    handler.then(settle, settle);
    return new Promise<T>((resolve, reject) => {
      this.rejectOutcome = (error) => {
        clearTimeout(soft);
        clearTimeout(hard);
        reject(error);
      };
      handler.then(resolve, reject);
    });
  }
}

function noop(): void {}
