/** How one failed run ended: another attempt follows, or it was the last. */
export type TaskFailure = 'retried' | 'final';

/**
 * Receives the moments of a task's life, for metrics. Every method is optional and is called
 * synchronously on the hot path with bounded values only (task name, queue, numbers): keep it
 * cheap and never throw. Register one with `TaskInstrumentation.observe()`.
 */
export interface TaskObserver {
  /** `count` jobs of `task` were accepted by Redis. */
  enqueued?(task: string, queue: string, count: number): void;
  /** A run began; `waitMs` is enqueue (or end of delay) → start, first attempt only. */
  started?(task: string, queue: string, waitMs: number | undefined): void;
  /** A run's handler returned; `durationMs` since the worker took the job. */
  succeeded?(task: string, queue: string, durationMs: number): void;
  /**
   * A run threw; `durationMs` since the worker took the job. `error` is what it threw (keep
   * only bounded parts of it, such as its name), `jobId` the job's id.
   */
  failed?(
    task: string,
    queue: string,
    durationMs: number,
    outcome: TaskFailure,
    error?: unknown,
    jobId?: string,
  ): void;
  /**
   * A running job lost its slot lease (`singleton`, `lock`, `maxConcurrent`, idempotent):
   * Redis did not renew it in time, so another run may overlap this one.
   */
  leaseLost?(task: string, queue: string): void;
  /** A job reached the dead-letter store (after its run, or after too many lost workers). */
  deadLettered?(task: string, queue: string): void;
}
