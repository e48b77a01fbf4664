import { defineTask } from '@conveyor/tasks';

/** Payload of the fault suite's job: an item number, and `poison` to make it always fail. */
export interface LedgerItem {
  n: number;
  poison?: boolean;
}

/**
 * The fault suite's task: each run writes its item to a ledger on a Redis the faults do not
 * touch, so a test can count what ran. Retries are quick so a fault test does not wait on
 * backoff.
 */
export const LedgerTask = defineTask<LedgerItem, number>('fault.ledger', {
  attempts: 3,
  backoff: { type: 'fixed', delay: '100ms' },
});

/** Redis keys of one test's ledger (outside the Conveyor prefix, on the ledger Redis). */
export function ledgerKeys(prefix: string): { runs: string; done: string } {
  return { runs: `ledger:${prefix}:runs`, done: `ledger:${prefix}:done` };
}
