import { checkKnownKeys, type Fail, parseDuration } from '@conveyor/tasks/internal';
import { InvalidHealthOptionsError } from './errors/invalid-health-options.error';
import type { HealthModuleOptions, QueueThresholds } from './interfaces/health-options.interface';

/** Limits of one queue, in ms and counts. */
export interface ResolvedQueueThresholds {
  waiting: number;
  oldestWaitingAgeMs: number;
}

/** Health options checked once at startup, with defaults applied. */
export interface ResolvedHealthOptions {
  timeoutMs: number;
  outboxLagMs: number;
  queues?: string[];
  thresholdsOf(queue: string): ResolvedQueueThresholds;
  /** `requireWorkers`: every handled queue (`true`), these queues, or none (`false`). */
  requireWorkers: boolean | ReadonlySet<string>;
}

const fail: Fail = (problem) => {
  throw new InvalidHealthOptionsError(problem);
};

export function resolveHealthOptions(options: HealthModuleOptions = {}): ResolvedHealthOptions {
  checkKnownKeys(
    { ...options },
    ['thresholds', 'timeout', 'queues', 'requireWorkers'],
    'HealthModule options',
    fail,
  );
  const thresholds = options.thresholds ?? {};
  checkKnownKeys(
    { ...thresholds },
    ['waiting', 'oldestWaitingAge', 'queues', 'outboxLag'],
    'thresholds',
    fail,
  );
  const base = queueThresholds(thresholds, 'thresholds', {
    waiting: 10_000,
    oldestWaitingAgeMs: 300_000,
  });
  const own = new Map(
    Object.entries(thresholds.queues ?? {}).map(([queue, limits]) => [
      queue,
      queueThresholds(limits, `thresholds.queues.${queue}`, base),
    ]),
  );
  return {
    timeoutMs: parseDuration(options.timeout ?? 1_000, 'timeout', fail),
    outboxLagMs: parseDuration(thresholds.outboxLag ?? 60_000, 'thresholds.outboxLag', fail),
    queues: options.queues,
    thresholdsOf: (queue) => own.get(queue) ?? base,
    requireWorkers: resolveRequireWorkers(options.requireWorkers),
  };
}

function resolveRequireWorkers(value: unknown): boolean | ReadonlySet<string> {
  if (value === undefined) return true;
  if (typeof value === 'boolean') return value;
  if (Array.isArray(value) && value.every((queue) => typeof queue === 'string' && queue !== '')) {
    return new Set(value as string[]);
  }
  return fail(
    `requireWorkers must be true, false or a list of queue names, got ${
      Array.isArray(value)
        ? 'a list with a non-name in it'
        : (JSON.stringify(value) ?? String(value))
    }`,
  );
}

function queueThresholds(
  limits: QueueThresholds,
  path: string,
  defaults: ResolvedQueueThresholds,
): ResolvedQueueThresholds {
  if (path.startsWith('thresholds.queues')) {
    checkKnownKeys({ ...limits }, ['waiting', 'oldestWaitingAge'], path, fail);
  }
  const waiting = limits.waiting ?? defaults.waiting;
  if (!Number.isInteger(waiting) || waiting < 0) {
    fail(`${path}.waiting must be a non-negative integer, got ${String(waiting)}`);
  }
  return {
    waiting,
    oldestWaitingAgeMs:
      limits.oldestWaitingAge === undefined
        ? defaults.oldestWaitingAgeMs
        : parseDuration(limits.oldestWaitingAge, `${path}.oldestWaitingAge`, fail),
  };
}
