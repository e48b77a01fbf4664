/** One job a row turns into when published. */
export interface OutboxJob {
  /** Task name (the BullMQ job name). */
  task: string;
  queue: string;
  /** BullMQ job options, JSON-safe, as built by the same checks `TaskProducer.enqueue` runs. */
  opts: Record<string, unknown> & { jobId?: string; delayUntil?: number };
  /**
   * The task's `searchable` payload fields, when it has some: the relay adds the job to its
   * queue's search index once BullMQ has it. Absent for other tasks.
   */
  search?: string[];
}

/** A row to write: one task, or one event with the jobs of its subscribers. */
export interface NewOutboxRow {
  kind: 'task' | 'event';
  /** Task name, or event name. */
  name: string;
  /** Queue of a task row; `null` for an event. */
  queue: string | null;
  payload: unknown;
  /** `{ job }` for a task row, `{ jobs }` for an event row. */
  options: { job?: OutboxJob; jobs?: OutboxJob[] };
  /** Trace context (W3C `traceparent` …) carried to the job; reserved for tracing. */
  trace?: Record<string, string> | null;
}

/** A row claimed by the relay. `id` is the bigserial as a decimal string. */
export interface OutboxRow extends NewOutboxRow {
  id: string;
  attempts: number;
}

/**
 * Rows the relay has claimed: leased to it (their `available_at` pushed past the lease) in a
 * statement that has committed, so no transaction or connection is held while it publishes.
 */
export interface OutboxClaim {
  readonly rows: readonly OutboxRow[];
  /**
   * Marks rows published, at once, in a statement of its own: their jobs are in Redis, so
   * they are published whoever holds them now.
   */
  markPublished(ids: readonly string[]): Promise<void>;
  /**
   * Records a failed publish: `attempts + 1`, `last_error`, and `available_at` pushed back by
   * `min(retryDelayMs · 2^attempts, maxDelayMs)` so the row stops blocking those behind it.
   * With `maxAttempts` (given for failures of the row's own, never for Redis trouble), a row
   * whose attempts reach it is set aside instead: `available_at = 'infinity'`, never claimed
   * again until an operator makes it available. Only rows this claim still holds (not
   * published, lease not taken over) are changed.
   */
  recordFailure(
    ids: readonly string[],
    error: string,
    retryDelayMs: number,
    maxDelayMs: number,
    maxAttempts?: number,
  ): Promise<void>;
}

/** Counts for health checks and metrics. */
export interface OutboxStats {
  /** Rows waiting to be published (not set aside). */
  pending: number;
  /** Age of the oldest pending row in ms (the relay's lag); 0 when none is pending. */
  oldestPendingAgeMs: number;
  /** Pending rows that failed at least once. */
  failing: number;
  /**
   * Unpublished rows set aside after `relay.maxAttempts` failures of their own (malformed,
   * refused by BullMQ): never claimed again until an operator makes them available.
   */
  setAside: number;
  /** Published rows still in the table (retention deletes older ones). */
  published: number;
}

/** A row the relay could not publish yet, as `OutboxStore.failedRows()` lists it. */
export interface OutboxFailure {
  /** The row's id (bigserial as a decimal string). */
  id: string;
  kind: 'task' | 'event';
  /** Task name, or event name. */
  name: string;
  queue: string | null;
  /** Failed publishes so far. */
  attempts: number;
  /** The last publish's error, as recorded (at most 2000 characters). */
  lastError: string | null;
  createdAt: Date;
  /**
   * When a relay may try it next (while a relay holds it: when its lease ends); `null` for a
   * row set aside, which waits for `replaySetAside()`.
   */
  nextAttemptAt: Date | null;
  /** Set aside after `relay.maxAttempts` failures of its own: no relay claims it. */
  setAside: boolean;
}

/**
 * The outbox's one contract with a database. The writer (`Outbox`) calls `insert` inside the
 * app's transaction; the relay calls `claim`, `deletePublished` and `stats` outside it, and
 * never holds a transaction across a call to Redis. To add
 * an ORM or driver (Prisma, Knex, Kysely, Drizzle …), implement this interface and provide it
 * under the `OUTBOX_STORE` token; the relay does not change.
 */
export interface OutboxStore {
  /** Creates the table and indexes if missing (idempotent, safe from many processes). */
  ensureSchema(): Promise<void>;
  /** True when the calling code runs inside a transaction `insert` can join. */
  inTransaction(): boolean;
  /** Writes rows in the caller's current transaction; returns their ids in order. */
  insert(rows: readonly NewOutboxRow[]): Promise<string[]>;
  /**
   * Claims up to `limit` unpublished, available rows in id order (`FOR UPDATE SKIP LOCKED`)
   * by leasing them for `leaseMs` (`available_at = now() + lease`) in one short statement that
   * commits before `work` runs; `work` then publishes and marks them. Rows `work` neither
   * marked nor recorded as failed (it threw, say) are given back when it ends. Rows of a
   * claimer that died become claimable again when their lease runs out. No transaction or
   * connection is held while `work` runs.
   */
  claim<T>(limit: number, leaseMs: number, work: (claim: OutboxClaim) => Promise<T>): Promise<T>;
  /** Deletes up to `limit` rows published more than `olderThanMs` ago; returns how many. */
  deletePublished(olderThanMs: number, limit: number): Promise<number>;
  stats(): Promise<OutboxStats>;
  /**
   * Up to `limit` unpublished rows that failed at least once (failing and set aside), newest
   * first. Optional: a store without it has no failures listed (the dashboard says so).
   */
  failedRows?(limit: number): Promise<OutboxFailure[]>;
  /**
   * Makes the given rows that are set aside available again with fresh attempts
   * (`attempts = 0`, `available_at = now()`); rows that are not set aside (published,
   * pending, unknown) are left as they are. Returns the ids it changed. Optional.
   */
  replaySetAside?(ids: readonly string[]): Promise<string[]>;
}
