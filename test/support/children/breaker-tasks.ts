import { defineTask } from '@conveyor/tasks';
import type { LimitItem } from './limits-tasks';

export const BREAKER_QUEUE = 'breaker';

/**
 * Short BullMQ locks, so a killed worker's job comes back within about a second; stalls are
 * not failures here. Concurrency 10: every worker could run many calls at once, which the
 * breaker must not let it do while the dependency is down.
 */
export const breakerQueueOptions = {
  concurrency: 10,
  lockDuration: 1_500,
  stalledInterval: 500,
  maxStalledCount: 50,
};

/**
 * A call to a dependency, behind a breaker that one failure opens for 100 ms. A probe holds
 * its turn for the hard time limit (1 s): a probe whose worker was killed is followed by
 * another after that.
 */
export const BreakerCall = defineTask<LimitItem, number>('breaker.call', {
  queue: BREAKER_QUEUE,
  attempts: 10_000,
  backoff: { type: 'fixed', delay: '20ms' },
  hardTimeout: '1s',
  circuitBreaker: { name: 'dependency', failureThreshold: 1, window: '1m', cooldown: '100ms' },
});
