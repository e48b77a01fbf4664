/** A job that failed for good, as the dead-letter store keeps it. */
export interface DeadLetter {
  id: string;
  queue: string;
  taskName: string;
  payload: unknown;
  /** The job's options: attempts allowed, priority, delay, … */
  options: { attempts: number; priority?: number; delay?: number };
  error: { name: string; message: string; stack?: string };
  attemptsMade: number;
  enqueuedAt: Date;
  /** When the last attempt started. */
  lastRunAt?: Date;
  failedAt?: Date;
}

/** Selects dead letters for bulk replay or purge; every given field must match. */
export interface DeadLetterFilter {
  taskName?: string;
  /** Name of the final error, e.g. `TypeError`. */
  errorName?: string;
  /** Text the final error message contains. */
  messageIncludes?: string;
  failedBefore?: Date;
  failedAfter?: Date;
}

/** Outcome of a bulk replay: ids replayed, and those refused with the reason. */
export interface ReplayReport {
  replayed: string[];
  refused: Array<{ id: string; reason: string }>;
}
