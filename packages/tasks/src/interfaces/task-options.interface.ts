import type { StandardSchemaV1 } from '@standard-schema/spec';
import type { TaskIsolation } from './thread-options.interface';
import type { Duration } from './duration.interface';
import type { EventSubscription } from './event-ref.interface';
import type { TaskHooks } from './task-hooks.interface';
import type { RateLimit, RateLimitString } from './module-options.interface';

/** How long to wait before each retry. */
export interface BackoffOptions {
  /** `fixed`: the same delay every time; `exponential`: `delay · 2^(retry − 1)`. */
  type: 'fixed' | 'exponential';
  /** Base delay. */
  delay: Duration;
  /** Upper bound for any single delay. @default no bound */
  max?: Duration;
  /**
   * Fraction of each delay that is random, from 0 to 1: a delay `d` is drawn uniformly from
   * `[d · (1 − jitter), d]`, so many jobs failing together do not retry together.
   * @default 0
   */
  jitter?: number;
}

/**
 * A backoff policy as a function: the delay before the retry that follows failed attempt
 * `attempt` (from 1), given the error it failed with; e.g. longer waits for rate-limit errors
 * than for timeouts. Its value is used as it is (no `max`, no `jitter`). A function that
 * throws or returns something that is not a duration is logged as an error, and that retry
 * waits the task's object `backoff` (or the built-in one) instead: the job is never lost.
 *
 * @example
 * backoff: (attempt, error) => (error instanceof RateLimitedError ? '1m' : attempt * 1_000)
 */
export type BackoffFunction = (attempt: number, error: Error) => Duration;

/** Keep or drop finished jobs in Redis (BullMQ's `removeOnComplete` / `removeOnFail`). */
export type KeepJobs = boolean | { age?: Duration; count?: number };

/**
 * Options of one task. Set them in `defineTask()` (seen by producers and workers alike),
 * refine them in `@Task(ref, options)`, and give defaults in `TasksModule.forRoot({ defaults })`.
 */
export interface TaskOptions<P = unknown> extends TaskHooks {
  /** Queue that carries the task's jobs. @default 'default' */
  queue?: string;
  /** Runs in all, counting the first. @default 1 */
  attempts?: number;
  /**
   * Delay between attempts: a policy object, or a function of the attempt and its error for
   * per-error policies. A `RetryTaskError` with a `delay` overrides it for that retry.
   * @default { type: 'exponential', delay: '1s', jitter: 0.2 }
   */
  backoff?: BackoffOptions | BackoffFunction;
  /**
   * How many `RetryTaskError({ countAttempt: false })` retries one job may take without
   * spending an attempt. Past it, such a retry counts like any failure (and the log line says
   * so), so a handler that always asks for a retry still ends. 0: every retry counts.
   * @default 25
   */
  maxUncountedRetries?: number;
  /** BullMQ priority: 1 is the highest, 2 097 152 the lowest; 0 means none. @default 0 */
  priority?: number;
  /**
   * Soft time limit of one run: `ctx.signal` is aborted with a `TaskTimeoutError` when it
   * passes, and the handler decides how to stop. @default no limit
   */
  timeout?: Duration;
  /**
   * Hard time limit of one run: the attempt fails with `TaskTimeoutError` when it passes,
   * whether or not the handler stops (it is retried per `attempts`). @default no limit
   */
  hardTimeout?: Duration;
  /** How long a finished job's result stays readable by `TaskHandle.result()`. @default '1d' */
  resultTtl?: Duration;
  /**
   * BullMQ's `removeOnComplete`, for those who want its exact semantics; overrides `resultTtl`.
   * `true` drops the job (and its result) as soon as it completes.
   */
  removeOnComplete?: KeepJobs;
  /** How long failed jobs stay in Redis for inspection. @default { age: '7d' } */
  removeOnFail?: KeepJobs;
  /**
   * Decides whether an error is worth another attempt. Return `false` to fail the job at once.
   * `UnrecoverableTaskError` never retries and `RetryTaskError` always does (while attempts
   * remain), whatever this says.
   */
  retryIf?: (error: Error) => boolean;
  /**
   * A Standard Schema validator (zod, valibot, arktype, …) for the payload, checked at enqueue
   * and again before each run; the handler receives the schema's output.
   */
  schema?: StandardSchemaV1<P, unknown>;
  /** Largest serialised payload accepted at enqueue, in bytes. @default 524288 (512 KiB) */
  maxPayloadBytes?: number;
  /**
   * Derive an idempotency key from the task name and payload when the caller gives none, so
   * the same payload is one job while it exists and its result is reused for `idempotencyTtl`.
   * @default false
   */
  idempotent?: boolean;
  /**
   * How long the result of a job enqueued with an idempotency key answers a re-run of that
   * job (redelivery, dead-letter replay, outbox republish) without calling the handler.
   * @default '1d'
   */
  idempotencyTtl?: Duration;
  /** At most one run of this task at a time, across every worker. Others wait. @default false */
  singleton?: boolean;
  /** At most one run at a time per lock key, across every worker; others wait. */
  lock?: (payload: P) => string;
  /**
   * Runs of this task at once across every worker process (per key with `concurrencyKey`).
   * Jobs over the limit wait (they are delayed, not failed, and spend no attempt).
   */
  maxConcurrent?: number;
  /**
   * Starts allowed per period across every worker (per key with `concurrencyKey`):
   * `{ max, per }` or Celery's `'10/s'`, `'100/m'`, `'1000/h'`.
   */
  rateLimit?: RateLimit | RateLimitString;
  /**
   * Groups jobs for fairness, e.g. by tenant: `maxConcurrent` and `rateLimit` then hold per
   * key, so one busy key cannot take every worker.
   */
  concurrencyKey?: (payload: P) => string;
  /**
   * Stops running this task while a dependency is down: after `failureThreshold` failed
   * attempts within `window`, the breaker opens, and the task's jobs wait (parked, spending no
   * attempt) for `cooldown`; then one job runs as a probe: its success closes the breaker and
   * the waiting jobs run, its failure opens it for another cooldown. The state is in Redis,
   * shared by every worker process; tasks that give the same `name` share one breaker.
   */
  circuitBreaker?: CircuitBreakerOptions;
  /**
   * Outbox events this task subscribes to: `Outbox.emit(OrderCreated, payload)` enqueues one
   * job of this task per emitted event. Give `defineEvent()` references (each event's payload
   * must fit `P`), event names (untyped, kept for compatibility), or a list. @default none
   */
  on?: EventSubscription<P>;
  /**
   * `'thread'` runs the handler in the module's worker threads (`TasksModule.forRoot({
   * threads })`): a CPU-bound handler no longer stalls the worker, and the hard time limit
   * terminates its thread. Payload and result cross as structured clones. @default the
   * queue's `isolation`, else `'inline'`
   */
  isolation?: TaskIsolation;
  /**
   * Payload fields (dot paths, up to 10) the producer indexes when it enqueues a job of this
   * task, so `@conveyor/dashboard` finds its jobs by `orderId = 42` with one index read instead
   * of scanning the queue. A job costs one more script call per enqueue (per queue for
   * `enqueueMany`); values are indexed as text, objects and arrays are not. @default none
   */
  searchable?: readonly string[];
}

/** Options that apply to every task unless the task sets its own. */
export type TaskDefaults = Omit<
  TaskOptions,
  | 'schema'
  | 'on'
  | 'lock'
  | 'concurrencyKey'
  | 'singleton'
  | 'circuitBreaker'
  | 'isolation'
  | keyof TaskHooks
>;

/** A task's circuit breaker: see `TaskOptions.circuitBreaker`. */
export interface CircuitBreakerOptions {
  /**
   * Tasks that give the same name share one breaker (and must give the same settings).
   * @default the task's name
   */
  name?: string;
  /** Failed attempts within `window` that open the breaker. */
  failureThreshold: number;
  /** How far back failures count, e.g. `'1m'`. */
  window: Duration;
  /** How long the breaker stays open before a probe runs, e.g. `'30s'`. */
  cooldown: Duration;
  /**
   * Which failed attempts count. By default every one does, except `UnrecoverableTaskError`,
   * an invalid payload and a cancel: those say nothing about the dependency.
   */
  isFailure?: (error: Error) => boolean;
}
