import { Inject, Injectable } from '@nestjs/common';
import type { OutboxDriver, OutboxTx } from '../drivers/outbox-driver.interface';
import type { ResolvedOutboxOptions } from '../options/module-options';
import { OUTBOX_DRIVER, RESOLVED_OUTBOX_OPTIONS } from '../outbox.constants';

/**
 * Statements that travel with a transaction's `COMMIT` (`writeAtCommit`). Our transactional
 * adapter opens each transaction here and takes its statements at commit; the store adds
 * the transaction's outbox rows. The rows then cost no round trip of their own: on a
 * one-row business transaction (BEGIN, INSERT, COMMIT) an INSERT of its own was a fourth.
 *
 * Only transactions the adapter opened on a driver that sends statements together (`pg`)
 * are open here; in any other (PGlite, the app's TypeORM transactions) rows go in at once.
 */
@Injectable()
export class CommitWrites {
  private readonly enabled: boolean;
  /** Per open transaction: its rows so far, if any, and how they become one statement. */
  private readonly open = new Map<OutboxTx, Batch | undefined>();

  constructor(
    @Inject(OUTBOX_DRIVER) driver: OutboxDriver,
    @Inject(RESOLVED_OUTBOX_OPTIONS) options: ResolvedOutboxOptions,
  ) {
    this.enabled = options.writeAtCommit && typeof driver.literal === 'function';
  }

  /** Transaction `tx` started (called by the adapter). */
  begin(tx: OutboxTx): void {
    if (this.enabled) this.open.set(tx, undefined);
  }

  /** Whether rows can wait for the commit of `tx`. */
  accepts(tx: unknown): boolean {
    return this.open.has(tx as OutboxTx);
  }

  /**
   * The list the store adds its rows (SQL tuples) to in transaction `tx`; at commit they
   * become the one statement `statement` builds of them.
   */
  rows(tx: OutboxTx, statement: (rows: string[]) => string): string[] {
    if (!this.open.has(tx)) throw new Error('no transaction of the outbox is open on this client');
    let batch = this.open.get(tx);
    if (!batch) this.open.set(tx, (batch = { rows: [], statement }));
    return batch.rows;
  }

  /** The SQL to send with the `COMMIT` of `tx`, if any (called by the driver). */
  take(tx: OutboxTx): string | undefined {
    const batch = this.open.get(tx);
    return batch?.rows.length ? batch.statement(batch.rows) : undefined;
  }

  /** Transaction `tx` ended, committed or not: what it held is gone with it. */
  end(tx: OutboxTx): void {
    this.open.delete(tx);
  }
}

interface Batch {
  rows: string[];
  statement: (rows: string[]) => string;
}
