import {
  Inject,
  Injectable,
  type BeforeApplicationShutdown,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { CLOSE_GRACE_MS, ConveyorLogger, errorField, settleWithin } from '@conveyor/tasks/internal';
import type { OutboxDriver } from '../drivers/outbox-driver.interface';
import { OUTBOX_DRIVER, RESOLVED_OUTBOX_OPTIONS } from '../outbox.constants';
import type { ResolvedOutboxOptions } from '../options/module-options';

/**
 * At most one `NOTIFY` per this many ms per process: the first commit notifies at once, and
 * commits during the following window share one more `NOTIFY` at its end.
 */
export const NOTIFY_COALESCE_MS = 5;

/**
 * How long a look at who listens holds: a `NOTIFY` at most this long after the last look goes
 * out unchecked when a relay listened, and not at all when none did (then one look at the end
 * of the window covers the commits in it).
 */
export const LISTENERS_CHECK_MS = 1_000;

/**
 * After-commit signalling. nestjs-cls has no after-commit hook, so our transactional adapter
 * reports each transaction's end here; when one that wrote outbox rows commits, relays are
 * woken: the one in this process directly, others through one coalesced `NOTIFY` on a pool
 * connection of its own, never inside the business transaction (a `NOTIFY` in a writing
 * transaction takes a global lock at commit). No `NOTIFY` goes out while no relay listens on
 * the channel (looked at once a second, in the same round trip as a `NOTIFY`): a writer
 * without listeners, e.g. relays on polling alone, spent a round trip per 5 ms on nobody.
 * Also owns closing the database on shutdown.
 */
@Injectable()
export class OutboxSignals implements BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly logger = new ConveyorLogger('ConveyorOutbox');
  private readonly written = new WeakSet<object>();
  private readonly wakers = new Set<() => void>();
  private timer?: NodeJS.Timeout;
  private pending = false;
  private inFlight?: Promise<void>;
  private lastErrorLog = 0;
  /** Whether a relay listened at the last look (`undefined`: not looked, or it failed). */
  private listening?: boolean;
  private checkedAt = -Infinity;
  private recheck?: NodeJS.Timeout;

  constructor(
    @Inject(OUTBOX_DRIVER) private readonly driver: OutboxDriver,
    @Inject(RESOLVED_OUTBOX_OPTIONS) private readonly options: ResolvedOutboxOptions,
  ) {}

  /** The outbox wrote rows in transaction `tx`. */
  markWritten(tx: object): void {
    this.written.add(tx);
  }

  /** Transaction `tx` ended (committed or not). Called by the adapter after COMMIT/ROLLBACK. */
  settled(tx: object, committed: boolean): void {
    if (!this.written.has(tx)) return;
    this.written.delete(tx); // pg reuses the client object for its next transaction
    if (!committed) return;
    for (const wake of this.wakers) wake();
    this.scheduleNotify();
  }

  /** Registers an in-process relay; returns the unregister function. */
  onCommit(wake: () => void): () => void {
    this.wakers.add(wake);
    return () => this.wakers.delete(wake);
  }

  private scheduleNotify(): void {
    if (!this.options.notify || !this.driver.notify) return;
    if (this.timer) {
      this.pending = true;
      return;
    }
    // Leading edge: a lone commit is not held back (commit → handler latency).
    this.sendNotify();
  }

  private sendNotify(): void {
    const sinceCheck = Date.now() - this.checkedAt;
    if (this.listening === false && sinceCheck < LISTENERS_CHECK_MS) {
      // Nobody listened a moment ago. Look again when the window ends, so a relay that
      // started listening within it still hears of these commits then, not at its next poll.
      this.recheck ??= setTimeout(() => {
        this.recheck = undefined;
        this.scheduleNotify();
      }, LISTENERS_CHECK_MS - sinceCheck);
      return;
    }
    const { channel } = this.options;
    const look =
      this.driver.notifyIfListened &&
      (this.listening === undefined || Date.now() - this.checkedAt >= LISTENERS_CHECK_MS);
    const sent = look
      ? this.driver.notifyIfListened!(channel).then((listening) => {
          this.listening = listening;
          this.checkedAt = Date.now();
        })
      : this.driver.notify!(channel);
    this.inFlight = sent
      .catch((error: Error) => {
        this.listening = undefined; // look again next time
        this.logError(error);
      })
      .finally(() => (this.inFlight = undefined));
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (!this.pending) return;
      this.pending = false;
      this.sendNotify();
    }, NOTIFY_COALESCE_MS);
  }

  /**
   * Resolves once no `NOTIFY` (or look for listeners) is scheduled or in flight: whatever the
   * commits so far were going to send has been sent, and committed. For tests that must show
   * a `NOTIFY` was not sent without waiting for a fixed time.
   */
  async idle(): Promise<void> {
    while (this.timer || this.recheck || this.inFlight) {
      await (this.inFlight ?? new Promise((resolve) => setTimeout(resolve, 5)));
    }
  }

  private logError(error: Error): void {
    // Polling covers a lost notification; say so once in a while, not per commit.
    if (Date.now() - this.lastErrorLog < 10_000) return;
    this.lastErrorLog = Date.now();
    this.logger.warn(
      `outbox NOTIFY failed (relays will find the rows by polling): ${error.message}`,
      { channel: this.options.channel, error: errorField(error) },
    );
  }

  async beforeApplicationShutdown(): Promise<void> {
    clearTimeout(this.recheck); // nobody listened: relays find those rows by polling
    this.recheck = undefined;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
      if (this.pending && this.listening !== false && this.options.notify && this.driver.notify) {
        this.pending = false;
        await this.driver.notify(this.options.channel).catch((e: Error) => this.logError(e));
      }
    }
    await this.inFlight;
  }

  /** Bounded: a connection still held by a relay batch stuck on Redis would hold pool.end(). */
  async onApplicationShutdown(): Promise<void> {
    await settleWithin(this.driver.close(), CLOSE_GRACE_MS);
  }
}
