import {
  Inject,
  Injectable,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { ConveyorLogger, errorField, type LogFields } from '@conveyor/tasks/internal';
import type { OutboxDriver } from '../drivers/outbox-driver.interface';
import { OutboxStoreUnsupportedError, OutboxTableMissingError } from '../errors';
import { OUTBOX_DRIVER, OUTBOX_STORE, RESOLVED_OUTBOX_OPTIONS } from '../outbox.constants';
import {
  defaultRelayOptions,
  type ResolvedOutboxOptions,
  type ResolvedRelayOptions,
} from '../options/module-options';
import type {
  OutboxFailure,
  OutboxRow,
  OutboxStats,
  OutboxStore,
} from '../store/outbox-store.interface';
import { OutboxSignals } from '../transactions/outbox-signals';
import { relayBackoffMs } from './bounded';
import { OutboxPublisher, type PublishOutcome } from './outbox-publisher';

const RETENTION_EVERY_MS = 60_000;
const RETENTION_BATCH = 1_000;
/** While the relay keeps failing, it says so again at most this often. */
const FAILURE_LOG_EVERY_MS = 30_000;
/** Rows `failedRows()` and `replaySetAside()` take at most per call. */
const MAX_ROWS_PER_CALL = 1_000;

/** `OutboxStore.stats()` plus what this process's relay did. */
export interface OutboxRelayStats extends OutboxStats {
  /** Rows this process published since it started. */
  publishedByThisProcess: number;
  /** Whether a relay loop runs in this process. */
  running: boolean;
  /**
   * Rounds in a row that failed (Redis unreachable, too slow or refusing every command, the
   * database away); 0 once a round succeeds. The relay backs off meanwhile. A row that fails
   * for a reason of its own (malformed, refused by BullMQ) does not fail the round: it is
   * recorded on the row (`failing`, then `setAside`).
   */
  consecutiveFailures: number;
  /** Why the last round failed, while `consecutiveFailures > 0`; otherwise `null`. */
  lastError: string | null;
}

/** What one batch did. */
interface BatchOutcome {
  claimed: number;
  published: number;
  /** The first error of rows that were not published, if any. */
  error?: string;
}

/**
 * Moves committed outbox rows into BullMQ. Runs where `relay` is set; any number of processes
 * may run it on one table. A round first checks that Redis answers (a bounded PING while the
 * connection is not up) and claims nothing otherwise. Each batch is then claimed by leasing
 * its rows in one short, committed statement (`FOR UPDATE SKIP LOCKED`, id order), published
 * (one `addBulk` per queue, bounded by `publishTimeout`, job id derived from the row id) and
 * marked published in another statement: no transaction or connection is held across a
 * Redis call, so requests never wait on the relay. Rows of a relay that died mid-batch are
 * claimed again when their lease runs out. A row that cannot be published for a reason of its
 * own (malformed, refused by BullMQ) fails alone, recorded on the row, and is set aside after
 * `maxAttempts` such failures; the rest of its batch is published and the round goes on.
 * Wakes on commit in this process, on `NOTIFY` from others, and polls; when Redis or the
 * database fails it backs off (exponential, with jitter, up to `maxBackoff`) and recovers by
 * itself.
 */
@Injectable()
export class OutboxRelay implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new ConveyorLogger('ConveyorOutbox');
  private readonly relayOptions: ResolvedRelayOptions | false;
  private loop?: Promise<void>;
  private stopping = false;
  private pendingWake = false;
  private wakeSleeper?: () => void;
  private stopListening?: () => Promise<void>;
  private unsubscribe?: () => void;
  private publishedTotal = 0;
  private failures = 0;
  private lastError: string | null = null;
  private lastFailureLog = 0;
  // When the current run of failed rounds began, and how long the next wait is.
  private failingSince = 0;
  private backoffMs = 0;
  private lastRetention = 0;

  constructor(
    @Inject(OUTBOX_STORE) private readonly store: OutboxStore,
    @Inject(OUTBOX_DRIVER) private readonly driver: OutboxDriver,
    @Inject(RESOLVED_OUTBOX_OPTIONS) private readonly options: ResolvedOutboxOptions,
    private readonly publisher: OutboxPublisher,
    private readonly signals: OutboxSignals,
  ) {
    this.relayOptions = options.relay;
  }

  async onApplicationBootstrap(): Promise<void> {
    const relay = this.relayOptions;
    if (!relay) return;
    this.unsubscribe = this.signals.onCommit(() => this.wake());
    if (relay.listen && this.driver.listen) {
      this.stopListening = await this.driver.listen(this.options.channel, () => this.wake());
    }
    this.lastRetention = Date.now() - RETENTION_EVERY_MS; // a first sweep soon after start
    this.loop = this.run(relay);
  }

  /** Looks for rows now instead of at the next poll. */
  wake(): void {
    this.pendingWake = true;
    this.wakeSleeper?.();
  }

  /**
   * Publishes what is available now, batch after batch, in the calling process; returns how
   * many rows it published. For tests, scripts and processes without the relay loop. Rejects
   * (and claims nothing) when Redis does not answer within `publishTimeout`.
   */
  async drain(): Promise<number> {
    return (await this.relayUntilShort(this.relayOptions || defaultRelayOptions(), false))
      .published;
  }

  /** Pending count, lag, published totals and failures, for health checks and metrics. */
  async stats(): Promise<OutboxRelayStats> {
    return {
      ...(await this.store.stats()),
      publishedByThisProcess: this.publishedTotal,
      running: this.loop !== undefined && !this.stopping,
      consecutiveFailures: this.failures,
      lastError: this.failures > 0 ? this.lastError : null,
    };
  }

  /**
   * Up to `limit` unpublished rows that failed to publish at least once, newest first: those
   * the relay still retries (`nextAttemptAt`) and those set aside (`setAside`), with their
   * attempts and last error. Reads the table's failing index (`limit` rows).
   *
   * @param limit from 1 to 1000. @default 20
   */
  async failedRows(limit = 20): Promise<OutboxFailure[]> {
    checkCount(limit, 'failedRows() limit');
    if (!this.store.failedRows) throw new OutboxStoreUnsupportedError('failedRows');
    return this.store.failedRows(limit);
  }

  /**
   * Makes rows set aside available again with fresh attempts (`attempts = 0`), once what
   * their `last_error` named is fixed, and wakes the relay: they are published under their
   * usual job ids. Rows that are not set aside are left alone. Returns the ids replayed.
   *
   * @param ids row ids (decimal strings), at most 1000
   */
  async replaySetAside(ids: readonly string[]): Promise<string[]> {
    // Row ids are bigints: a larger number would fail the query's cast instead of matching none.
    const rowId = (id: unknown) =>
      typeof id === 'string' && /^\d{1,19}$/.test(id) && BigInt(id) <= 2n ** 63n - 1n;
    if (!Array.isArray(ids) || !ids.every(rowId)) {
      throw new TypeError(
        'replaySetAside() takes row ids as decimal strings up to 9223372036854775807, e.g. ["42"]',
      );
    }
    checkCount(ids.length, 'replaySetAside() ids', 0);
    if (!this.store.replaySetAside) throw new OutboxStoreUnsupportedError('replaySetAside');
    const replayed = await this.store.replaySetAside(ids);
    if (replayed.length > 0) {
      this.logger.log(`outbox ${rowList(replayed)} made available again with fresh attempts`, {
        rows: replayed,
      });
      this.wake();
    }
    return replayed;
  }

  private async run(relay: ResolvedRelayOptions): Promise<void> {
    while (!this.stopping) {
      this.pendingWake = false;
      try {
        const outcome = await this.relayUntilShort(relay, true);
        if (outcome.error === undefined) this.succeeded();
        else this.failed(relay, outcome.error);
        await this.retention(relay);
      } catch (error) {
        // Shutting down closes the database and Redis under a round still running.
        if (this.stopping) break;
        this.failed(
          relay,
          error instanceof OutboxTableMissingError
            ? `${error.message} The relay keeps looking for it and publishes once it is ` +
                'there, without a restart.'
            : (error as Error).message,
          error,
        );
      }
      if (this.stopping) break;
      if (this.failures > 0) {
        // Redis or PostgreSQL trouble: back off, and do not let commits wake us meanwhile.
        await this.sleep(this.backoffMs, false);
      } else if (!this.pendingWake) {
        await this.sleep(relay.pollIntervalMs, true);
      }
    }
  }

  private succeeded(): void {
    if (this.failures > 0) {
      this.logger.log(`outbox relay publishing again after ${this.failures} failed round(s)`, {
        failedRounds: this.failures,
        outageMs: Date.now() - this.failingSince,
      });
    }
    this.failures = 0;
    this.lastError = null;
  }

  /** `error`: what the round threw, when it threw (a batch Redis refused throws nothing). */
  private failed(relay: ResolvedRelayOptions, message: string, error?: unknown): void {
    const now = Date.now();
    if (this.failures++ === 0) this.failingSince = now;
    this.lastError = message;
    this.backoffMs = relayBackoffMs(this.failures, relay.retryDelayMs, relay.maxBackoffMs);
    // Once when it starts, then now and then: a long outage is one line per 30 s, not one
    // per round.
    if (this.failures > 1 && now - this.lastFailureLog < FAILURE_LOG_EVERY_MS) return;
    this.lastFailureLog = now;
    this.logger.error(
      this.failures === 1
        ? `outbox relay round failed, backing off: ${message}`
        : `outbox relay still failing (${this.failures} rounds in a row), backing off: ${message}`,
      {
        failedRounds: this.failures,
        outageMs: now - this.failingSince,
        retryInMs: this.backoffMs,
        error: error === undefined ? { name: 'Error', message } : errorField(error),
      },
    );
  }

  /**
   * Relays batches until one comes back short (the backlog is gone), the loop stops, or
   * (when `stopOnFailure`) a batch fails; claims nothing when Redis does not answer. Once
   * there is a backlog, on PostgreSQL two batches are in flight at once: while one batch's
   * jobs go to Redis the next is claimed (`SKIP LOCKED` and the lease keep them apart), so
   * the relay runs near the slower of the two rates rather than their sum. PGlite has one
   * connection, which the app's requests share: one lane leaves them more of it.
   */
  private async relayUntilShort(
    relay: ResolvedRelayOptions,
    stopOnFailure: boolean,
  ): Promise<{ published: number; error?: string }> {
    await this.publisher.reachable(relay.publishTimeoutMs);
    let published = 0;
    let error: string | undefined;
    let more = true;
    const lane = async (batches = Infinity) => {
      for (let n = 0; n < batches && more && !(stopOnFailure && this.stopping); n++) {
        try {
          const outcome = await this.relayBatch(relay);
          published += outcome.published;
          error ??= outcome.error;
          if (outcome.claimed < relay.batchSize || (stopOnFailure && outcome.error !== undefined)) {
            more = false;
          }
        } catch (thrown) {
          more = false;
          throw thrown;
        }
      }
    };
    // One batch first: an idle relay's round is one claim query on one connection.
    await lane(1);
    if (!more) return { published, error };
    const lanes = this.driver.kind === 'pg' ? 2 : 1;
    // Settled, not all: a failing lane must not leave the other running past the round.
    const results = await Promise.allSettled(Array.from({ length: lanes }, () => lane()));
    const rejected = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (rejected) throw rejected.reason;
    return { published, error };
  }

  private relayBatch(relay: ResolvedRelayOptions): Promise<BatchOutcome> {
    return this.store.claim(relay.batchSize, relay.leaseMs, async (claim) => {
      if (claim.rows.length === 0) return { claimed: 0, published: 0 };
      const outcome = await this.publisher.publish(claim.rows, relay.publishTimeoutMs);
      await claim.markPublished(outcome.published);
      for (const { ids, error, cause } of outcome.failed) {
        // Only a failure of the row's own brings it closer to being set aside.
        const maxAttempts = cause === 'row' ? relay.maxAttempts : undefined;
        await claim.recordFailure(
          ids,
          error.message,
          relay.retryDelayMs,
          relay.maxBackoffMs,
          maxAttempts,
        );
      }
      this.publishedTotal += outcome.published.length;
      this.reportRowFailures(claim.rows, outcome.failed, relay.maxAttempts);
      // Rows that failed for reasons of their own do not fail the round: the relay is fine,
      // and backing off would only hold up the rows behind them.
      const redis = outcome.failed.filter((f) => f.cause === 'redis');
      return {
        claimed: claim.rows.length,
        published: outcome.published.length,
        error:
          redis[0] &&
          `${redis.reduce((n, f) => n + f.ids.length, 0)} row(s) not published, ` +
            `will retry: ${redis[0].error.message}`,
      };
    });
  }

  /**
   * Says which rows failed for reasons of their own: a warning while they will be tried
   * again, an error when this failure set them aside. One line of each per batch at most.
   */
  private reportRowFailures(
    rows: readonly OutboxRow[],
    failed: PublishOutcome['failed'],
    maxAttempts: number,
  ): void {
    const byId = new Map(rows.map((row) => [row.id, row]));
    const attempts = new Map(rows.map((row) => [row.id, row.attempts + 1]));
    const retried: string[] = [];
    const setAside: string[] = [];
    let retryError: Error | undefined;
    let setAsideError: Error | undefined;
    for (const { ids, error, cause } of failed) {
      if (cause !== 'row') continue;
      for (const id of ids) {
        if ((attempts.get(id) ?? 0) >= maxAttempts) {
          setAside.push(id);
          setAsideError ??= error;
        } else {
          retried.push(id);
          retryError ??= error;
        }
      }
    }
    if (retried.length > 0) {
      this.logger.warn(
        `outbox ${rowList(retried)} not published, will retry (set aside after ${maxAttempts} ` +
          `attempts): ${retryError!.message}`,
        rowFields(retried, byId, maxAttempts, retryError!),
      );
    }
    if (setAside.length > 0) {
      this.logger.error(
        `outbox ${rowList(setAside)} set aside after ${maxAttempts} failed attempts; no relay ` +
          `publishes ${setAside.length === 1 ? 'it' : 'them'} until an operator makes ` +
          `${setAside.length === 1 ? 'it' : 'them'} available again (README: "Rows set aside"): ` +
          setAsideError!.message,
        rowFields(setAside, byId, maxAttempts, setAsideError!),
      );
    }
  }

  private async retention(relay: ResolvedRelayOptions): Promise<void> {
    if (relay.retentionMs === false || Date.now() - this.lastRetention < RETENTION_EVERY_MS) return;
    this.lastRetention = Date.now();
    while (!this.stopping) {
      const deleted = await this.store.deletePublished(relay.retentionMs, RETENTION_BATCH);
      if (deleted < RETENTION_BATCH) break;
    }
  }

  private sleep(ms: number, wakeable: boolean): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wakeSleeper = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      // While backing off, only shutdown cuts the wait short.
      this.wakeSleeper = wakeable ? done : () => this.stopping && done();
    });
  }

  /**
   * Stops taking batches, lets the one in flight finish, stops listening. Waits at most twice
   * `publishTimeout` for that: a batch whose database calls hang past it is left behind, and
   * its rows are claimed again when their lease runs out.
   */
  async beforeApplicationShutdown(): Promise<void> {
    this.stopping = true;
    this.unsubscribe?.();
    this.wakeSleeper?.();
    const boundMs = 2 * (this.relayOptions || defaultRelayOptions()).publishTimeoutMs;
    if (!(await settlesWithin(this.loop, boundMs))) {
      this.logger.warn(
        `outbox relay: the batch in flight did not finish within ${boundMs} ms of shutdown; ` +
          'its rows are claimed again when their lease runs out',
        { waitedMs: boundMs },
      );
    }
    const stopListening = this.stopListening;
    this.stopListening = undefined;
    await settlesWithin(stopListening?.(), boundMs);
  }
}

/**
 * The fields of a line about failed rows: how many, the first ten ids, and the task (and
 * queue) or event of the first, whose error the line quotes.
 */
function rowFields(
  ids: readonly string[],
  byId: ReadonlyMap<string, OutboxRow>,
  maxAttempts: number,
  error: Error,
): LogFields {
  const first = byId.get(ids[0])!;
  return {
    rows: ids.length,
    rowIds: ids.slice(0, 10),
    ...(first.kind === 'event' ? { event: first.name } : { task: first.name, queue: first.queue }),
    attempt: first.attempts + 1,
    maxAttempts,
    error: errorField(error),
  };
}

/** `row 7`, `rows 7, 9, 12`, or the first ten and how many more. */
function rowList(ids: readonly string[]): string {
  if (ids.length === 1) return `row ${ids[0]}`;
  const shown = ids.slice(0, 10).join(', ');
  return `rows ${shown}${ids.length > 10 ? ` and ${ids.length - 10} more` : ''}`;
}

/** Whether `promise` (if any) settles within `ms`; never rejects. */
async function settlesWithin(promise: Promise<unknown> | undefined, ms: number): Promise<boolean> {
  if (!promise) return true;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => (timer = setTimeout(resolve, ms, false)));
  try {
    return await Promise.race([
      promise.then(
        () => true,
        () => true,
      ),
      late,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function checkCount(value: number, what: string, min = 1): void {
  if (!Number.isInteger(value) || value < min || value > MAX_ROWS_PER_CALL) {
    throw new RangeError(
      `${what} must be an integer from ${min} to ${MAX_ROWS_PER_CALL}, got ${String(value)}`,
    );
  }
}
