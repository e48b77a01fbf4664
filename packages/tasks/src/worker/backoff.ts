import type { Logger } from '@nestjs/common';
import { RetryTaskError } from '../errors/retry-task.error';
import { errorField, writeLog } from '../logging/conveyor-logger';
import type { ResolvedTaskOptions } from '../options/task-options';
import { parseDuration } from '../options/validation';

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

/** What a retry's delay comes from: the task's backoff options and its name (for the log). */
export interface RetryPolicy {
  name: string;
  options: Pick<ResolvedTaskOptions, 'backoff' | 'backoffFn'>;
}

/**
 * Delay before the retry that follows failed attempt `attemptsMade` with `error`: a
 * `RetryTaskError`'s own delay, else the task's backoff function, else its backoff policy.
 * Handler code that gives a bad duration (the error's delay, or what the function returns or
 * throws) is logged as an error and the policy object's delay is used: a bug in a retry
 * policy neither loses the job nor retries it in a tight loop.
 */
export function retryDelayOf(
  task: RetryPolicy,
  attemptsMade: number,
  error: Error | undefined,
  logger: Pick<Logger, 'error'>,
  random: () => number = Math.random,
): number {
  const fallback = () => backoffDelay(task.options.backoff, attemptsMade, random);
  const badDelay = (source: string, problem: string, cause?: unknown) => {
    writeLog(
      logger,
      'error',
      `${source} of task ${task.name} ${problem}; this retry waits the task's backoff instead`,
      { task: task.name, ...(cause === undefined ? {} : { error: errorField(cause) }) },
    );
    return fallback();
  };
  let source: string;
  let value: unknown;
  if (error instanceof RetryTaskError && error.delay !== undefined) {
    source = 'the RetryTaskError delay';
    value = error.delay;
  } else if (task.options.backoffFn && error) {
    source = 'the backoff function';
    try {
      value = task.options.backoffFn(attemptsMade, error);
    } catch (thrown) {
      return badDelay(source, `threw (${(thrown as Error)?.message ?? String(thrown)})`, thrown);
    }
  } else {
    return fallback();
  }
  try {
    const ms = parseDuration(value, 'it', (problem) => {
      throw new Error(problem);
    });
    return Math.min(ms, LONGEST_DELAY_MS);
  } catch (problem) {
    return badDelay(source, `gave a bad delay: ${(problem as Error).message}`);
  }
}
