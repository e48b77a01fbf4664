/** One job a row turns into when published. */
export interface OutboxJob {
  /** Task name (the BullMQ job name). */
  task: string;
  queue: string;
  /** BullMQ job options, JSON-safe, as built by the same checks `TaskProducer.enqueue` runs. */
  opts: Record<string, unknown> & { jobId?: string; delayUntil?: number };
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

/** What a relay transaction holds: claimed rows, locked until it ends. */
export interface OutboxClaim {
  readonly rows: readonly OutboxRow[];
  /** Marks rows published in the claim's transaction (a store may send it with the COMMIT). */
  markPublished(ids: readonly string[]): Promise<void>;
  /**
   * Records a failed publish: `attempts + 1`, `last_error`, and `available_at` pushed back by
   * `min(retryDelayMs · 2^attempts, maxDelayMs)` so the row stops blocking those behind it.
   */
  recordFailure(
    ids: readonly string[],
    error: string,
    retryDelayMs: number,
    maxDelayMs: number,
  ): Promise<void>;
}

/** Counts for health checks and metrics. */
export interface OutboxStats {
  /** Rows not yet published. */
  pending: number;
  /** Age of the oldest unpublished row in ms (the relay's lag); 0 when none is pending. */
  oldestPendingAgeMs: number;
  /** Unpublished rows that failed at least once. */
  failing: number;
  /** Published rows still in the table (retention deletes older ones). */
  published: number;
}

/**
 * The outbox's one contract with a database. The writer (`Outbox`) calls `insert` inside the
 * app's transaction; the relay calls `claim`, `deletePublished` and `stats` outside it. To add
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
   * Opens a transaction of its own, claims up to `limit` unpublished, available rows in id
   * order with `FOR UPDATE SKIP LOCKED`, runs `work`, and commits; rolls back if `work` throws,
   * which releases the rows for the next claim.
   */
  claim<T>(limit: number, work: (claim: OutboxClaim) => Promise<T>): Promise<T>;
  /** Deletes up to `limit` rows published more than `olderThanMs` ago; returns how many. */
  deletePublished(olderThanMs: number, limit: number): Promise<number>;
  stats(): Promise<OutboxStats>;
}
