import type { ResolvedTaskOptions } from '../options/task-options';

// BullMQ keeps delays in a sorted set; beyond ~24.8 days a delay is almost surely a mistake.
const LONGEST_DELAY_MS = 2 ** 31 - 1;

/**
 * Delay before the retry that follows failed attempt number `attemptsMade` (from 1):
 * `delay` (fixed) or `delay · 2^(attemptsMade − 1)` (exponential), capped at `max`, then
 * shortened by a random fraction of up to `jitter`.
 */
export function backoffDelay(
  backoff: ResolvedTaskOptions['backoff'],
  attemptsMade: number,
  random: () => number = Math.random,
): number {
  let delay =
    backoff.type === 'fixed'
      ? backoff.delayMs
      : backoff.delayMs * 2 ** Math.max(0, attemptsMade - 1);
  delay = Math.min(delay, backoff.maxMs ?? LONGEST_DELAY_MS, LONGEST_DELAY_MS);
  if (backoff.jitter > 0) delay *= 1 - backoff.jitter * random();
  return Math.round(delay);
}
