import {
  Inject,
  Injectable,
  Logger,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { CLOSE_GRACE_MS, settleWithin } from '@conveyor/tasks';
import type { OutboxDriver } from '../drivers/outbox-driver.interface';
import { OUTBOX_DRIVER, OUTBOX_STORE, RESOLVED_OUTBOX_OPTIONS } from '../outbox.constants';
import type { ResolvedOutboxOptions, ResolvedRelayOptions } from '../options/module-options';
import type { OutboxStats, OutboxStore } from '../store/outbox-store.interface';
import { OutboxSignals } from '../transactions/outbox-signals';
import { OutboxPublisher } from './outbox-publisher';

const RETENTION_EVERY_MS = 60_000;
const RETENTION_BATCH = 1_000;

/** `OutboxStore.stats()` plus what this process's relay did. */
export interface OutboxRelayStats extends OutboxStats {
  /** Rows this process published since it started. */
  publishedByThisProcess: number;
  /** Whether a relay loop runs in this process. */
  running: boolean;
}

/**
 * Moves committed outbox rows into BullMQ. Runs where `relay` is set; any number of processes
 * may run it on one table. Each batch is claimed with `FOR UPDATE SKIP LOCKED` in id order,
 * published (one `addBulk` per queue, job id derived from the row id) and marked published in
 * the claim's transaction. Wakes on commit in this process, on `NOTIFY` from others, and
 * polls. On Redis trouble rows stay unpublished and the relay backs off.
 */
@Injectable()
export class OutboxRelay implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('ConveyorOutbox');
  private readonly relayOptions: ResolvedRelayOptions | false;
  private loop?: Promise<void>;
  private stopping = false;
  private pendingWake = false;
  private wakeSleeper?: () => void;
  private stopListening?: () => Promise<void>;
  private unsubscribe?: () => void;
  private publishedTotal = 0;
  private failures = 0;
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
   * many rows it published. For tests, scripts and processes without the relay loop.
   */
  async drain(): Promise<number> {
    const relay = this.relayOptions || {
      batchSize: 100,
      retryDelayMs: 1_000,
      maxBackoffMs: 30_000,
    };
    return (await this.relayUntilShort(relay, false)).published;
  }

  /** Pending count, lag and published totals, for health checks and metrics. */
  async stats(): Promise<OutboxRelayStats> {
    return {
      ...(await this.store.stats()),
      publishedByThisProcess: this.publishedTotal,
      running: this.loop !== undefined && !this.stopping,
    };
  }

  private async run(relay: ResolvedRelayOptions): Promise<void> {
    while (!this.stopping) {
      this.pendingWake = false;
      try {
        const outcome = await this.relayUntilShort(relay, true);
        this.failures = outcome.failed ? this.failures + 1 : 0;
        await this.retention(relay);
      } catch (error) {
        this.failures++;
        this.logger.error(`outbox relay batch failed: ${(error as Error).message}`);
      }
      if (this.stopping) break;
      if (this.failures > 0) {
        // Redis or PostgreSQL trouble: back off, and do not let commits wake us meanwhile.
        await this.sleep(
          Math.min(relay.retryDelayMs * 2 ** (this.failures - 1), relay.maxBackoffMs),
          false,
        );
      } else if (!this.pendingWake) {
        await this.sleep(relay.pollIntervalMs, true);
      }
    }
  }

  /**
   * Relays batches until one comes back short (the backlog is gone), the loop stops, or
   * (when `stopOnFailure`) a batch fails. Once there is a backlog, on PostgreSQL two batches
   * are in flight at once,
   * each in its own claim transaction: while one batch's jobs go to Redis the next is claimed
   * (`SKIP LOCKED` keeps them apart), so the relay runs near the slower of the two rates
   * rather than their sum. PGlite runs one transaction at a time, so it gets one lane.
   */
  private async relayUntilShort(
    relay: Pick<ResolvedRelayOptions, 'batchSize' | 'retryDelayMs' | 'maxBackoffMs'>,
    stopOnFailure: boolean,
  ): Promise<{ published: number; failed: boolean }> {
    let published = 0;
    let failed = false;
    let more = true;
    const lane = async (batches = Infinity) => {
      for (let n = 0; n < batches && more && !(stopOnFailure && this.stopping); n++) {
        try {
          const outcome = await this.relayBatch(relay);
          published += outcome.published;
          failed ||= outcome.failed;
          if (outcome.claimed < relay.batchSize || (stopOnFailure && outcome.failed)) more = false;
        } catch (error) {
          more = false;
          throw error;
        }
      }
    };
    // One batch first: an idle relay's round is one claim query on one connection.
    await lane(1);
    if (!more) return { published, failed };
    const lanes = this.driver.kind === 'pg' ? 2 : 1;
    // Settled, not all: a failing lane must not leave the other running past the round.
    const results = await Promise.allSettled(Array.from({ length: lanes }, () => lane()));
    const rejected = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (rejected) throw rejected.reason;
    return { published, failed };
  }

  private async relayBatch(
    relay: Pick<ResolvedRelayOptions, 'batchSize' | 'retryDelayMs' | 'maxBackoffMs'>,
  ): Promise<{ claimed: number; published: number; failed: boolean }> {
    return this.store.claim(relay.batchSize, async (claim) => {
      if (claim.rows.length === 0) return { claimed: 0, published: 0, failed: false };
      const outcome = await this.publisher.publish(claim.rows);
      await claim.markPublished(outcome.published);
      for (const { ids, error } of outcome.failed) {
        await claim.recordFailure(ids, error.message, relay.retryDelayMs, relay.maxBackoffMs);
        this.logger.warn(
          `outbox: ${ids.length} row(s) not published, will retry: ${error.message}`,
        );
      }
      this.publishedTotal += outcome.published.length;
      return {
        claimed: claim.rows.length,
        published: outcome.published.length,
        failed: outcome.failed.length > 0,
      };
    });
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
   * Stops taking batches, lets the one in flight finish (or roll back), stops listening. Each
   * wait is bounded: a batch stuck on a Redis that is down must not hold the process, and its
   * rows stay unpublished for the next relay.
   */
  async beforeApplicationShutdown(): Promise<void> {
    this.stopping = true;
    this.unsubscribe?.();
    this.wakeSleeper?.();
    if (this.loop) await settleWithin(this.loop, CLOSE_GRACE_MS);
    if (this.stopListening) await settleWithin(this.stopListening(), CLOSE_GRACE_MS);
    this.stopListening = undefined;
  }
}
