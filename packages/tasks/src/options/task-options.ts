import type { StandardSchemaV1 } from '@standard-schema/spec';
import type { KeepJobs as BullKeepJobs } from 'bullmq';
import { eventNameOf } from '../define-event';
import { InvalidTaskOptionsError } from '../errors';
import type { EventSubscription } from '../interfaces/event-ref.interface';
import type { TaskHooks } from '../interfaces/task-hooks.interface';
import type {
  BackoffFunction,
  BackoffOptions,
  KeepJobs,
  TaskDefaults,
  TaskOptions,
} from '../interfaces/task-options.interface';
import type { TaskIsolation } from '../interfaces/thread-options.interface';
import {
  checkInteger,
  checkKnownKeys,
  checkObject,
  describe,
  type Fail,
  isPlainObject,
  parseDuration,
} from './validation';

export const DEFAULT_QUEUE = 'default';
export const MAX_PRIORITY = 2_097_152;
export const DEFAULT_MAX_PAYLOAD_BYTES = 512 * 1024;
export const DEFAULT_MAX_UNCOUNTED_RETRIES = 25;
export const TASK_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._\-/]{0,199}$/;
export const QUEUE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

const TASK_OPTION_KEYS = [
  'queue',
  'attempts',
  'backoff',
  'maxUncountedRetries',
  'priority',
  'timeout',
  'hardTimeout',
  'resultTtl',
  'removeOnComplete',
  'removeOnFail',
  'retryIf',
  'schema',
  'maxPayloadBytes',
  'idempotent',
  'idempotencyTtl',
  'singleton',
  'lock',
  'maxConcurrent',
  'rateLimit',
  'concurrencyKey',
  'circuitBreaker',
  'onSuccess',
  'onFailure',
  'onDeadLetter',
  'on',
  'isolation',
  'searchable',
] as const satisfies readonly (keyof TaskOptions)[];
const PER_TASK_ONLY = [
  'schema',
  'on',
  'lock',
  'concurrencyKey',
  'singleton',
  'circuitBreaker',
  'onSuccess',
  'onFailure',
  'onDeadLetter',
  'isolation',
  'searchable',
];
const BACKOFF_KEYS = ['type', 'delay', 'max', 'jitter'];

/** Task options with every default applied and every duration in milliseconds. */
export interface ResolvedTaskOptions {
  queue: string;
  attempts: number;
  /** The backoff policy object: the task's, or, when `backoff` is a function, its fallback. */
  backoff: { type: 'fixed' | 'exponential'; delayMs: number; maxMs?: number; jitter: number };
  /** The task's `backoff` when it is a function (see `retryDelayOf`). */
  backoffFn?: BackoffFunction;
  maxUncountedRetries: number;
  priority: number;
  timeoutMs?: number;
  hardTimeoutMs?: number;
  removeOnComplete: BullKeepJobs | boolean;
  removeOnFail: BullKeepJobs | boolean;
  retryIf?: (error: Error) => boolean;
  schema?: StandardSchemaV1;
  maxPayloadBytes: number;
  idempotent: boolean;
  idempotencyTtlMs: number;
  /**
   * Splits the task's limits per key (from the payload: `lock` or `concurrencyKey`);
   * `undefined`: the limits hold for the task as a whole.
   */
  limitKey?: (payload: unknown) => string;
  /** Runs at once across workers (per key with `limitKey`); 1 for `singleton` and `lock`. */
  maxConcurrent?: number;
  /** `singleton` or `lock`: one run at a time is what the task means, never overridden. */
  exclusive: boolean;
  rateLimit?: { max: number; perMs: number };
  circuitBreaker?: ResolvedCircuitBreaker;
  hooks: TaskHooks;
  /** Outbox events this task subscribes to (see `Outbox.emit`); empty when none. */
  on: readonly string[];
  /** The task's own `isolation`; `undefined`: its queue's (see `TaskThreads`). */
  isolation?: TaskIsolation;
  /** Payload fields (dot paths) the producer indexes for search; empty when none. */
  searchable: readonly string[];
}

/** A task's circuit breaker with its name given and durations in milliseconds. */
export interface ResolvedCircuitBreaker {
  name: string;
  failureThreshold: number;
  windowMs: number;
  cooldownMs: number;
  isFailure?: (error: Error) => boolean;
}

const CIRCUIT_BREAKER_KEYS = ['name', 'failureThreshold', 'window', 'cooldown', 'isFailure'];
export const BREAKER_NAME_PATTERN = TASK_NAME_PATTERN;

const BUILT_IN_DEFAULTS: TaskOptions = {
  queue: DEFAULT_QUEUE,
  attempts: 1,
  backoff: { type: 'exponential', delay: '1s', jitter: 0.2 },
  priority: 0,
  resultTtl: '1d',
  // Failed jobs are the dead-letter store: kept until replayed or purged.
  removeOnFail: false,
  maxPayloadBytes: DEFAULT_MAX_PAYLOAD_BYTES,
  idempotencyTtl: '1d',
};

export function checkTaskName(name: unknown, fail: Fail): string {
  if (typeof name !== 'string' || !TASK_NAME_PATTERN.test(name)) {
    fail(
      `task name must be 1–200 characters of letters, digits and . _ - /, starting with a letter or digit; got ${describe(name)}`,
    );
  }
  return name as string;
}

export function checkQueueName(name: unknown, path: string, fail: Fail): string {
  if (typeof name !== 'string' || !QUEUE_NAME_PATTERN.test(name)) {
    fail(`${path} must be 1–100 characters of letters, digits and . _ -; got ${describe(name)}`);
  }
  return name as string;
}

/**
 * Checks one layer of task options (as written by the user) without applying defaults, so
 * that a mistake is reported where it was made: in `defineTask()`, `@Task()` or `defaults`.
 */
export function checkTaskOptions(options: unknown, path: string, fail: Fail, perTask = true): void {
  if (options === undefined) return;
  const o = checkObject(options, path || 'options', fail);
  // Defaults carry nothing that belongs to one task: schema, subscriptions, locks, hooks.
  checkKnownKeys(
    o,
    perTask ? TASK_OPTION_KEYS : TASK_OPTION_KEYS.filter((k) => !PER_TASK_ONLY.includes(k)),
    path,
    fail,
  );
  const at = (key: string) => (path ? `${path}.${key}` : key);
  if (o.queue !== undefined) checkQueueName(o.queue, at('queue'), fail);
  if (o.attempts !== undefined) checkInteger(o.attempts, at('attempts'), 1, 1_000_000, fail);
  if (o.priority !== undefined) checkInteger(o.priority, at('priority'), 0, MAX_PRIORITY, fail);
  if (o.maxUncountedRetries !== undefined) {
    checkInteger(o.maxUncountedRetries, at('maxUncountedRetries'), 0, 1_000_000, fail);
  }
  if (o.maxPayloadBytes !== undefined) {
    checkInteger(o.maxPayloadBytes, at('maxPayloadBytes'), 1, 512 * 1024 * 1024, fail);
  }
  for (const key of [
    'retryIf',
    'lock',
    'concurrencyKey',
    'onSuccess',
    'onFailure',
    'onDeadLetter',
  ] as const) {
    if (o[key] !== undefined && typeof o[key] !== 'function') {
      fail(`${at(key)} must be a function, got ${describe(o[key])}`);
    }
  }
  for (const key of ['idempotent', 'singleton'] as const) {
    if (o[key] !== undefined && typeof o[key] !== 'boolean')
      fail(`${at(key)} must be a boolean, got ${describe(o[key])}`);
  }
  if (o.maxConcurrent !== undefined)
    checkInteger(o.maxConcurrent, at('maxConcurrent'), 1, 1_000_000, fail);
  if (o.rateLimit !== undefined) checkRateLimit(o.rateLimit, at('rateLimit'), fail);
  if (o.circuitBreaker !== undefined) {
    checkCircuitBreaker(o.circuitBreaker, undefined, at('circuitBreaker'), fail);
  }
  if (o.singleton && o.lock) fail(`give either ${at('singleton')} or ${at('lock')}, not both`);
  if ((o.singleton || o.lock) && (o.concurrencyKey || o.maxConcurrent !== undefined)) {
    fail(
      `${at('singleton')}/${at('lock')} already mean one run at a time; drop concurrencyKey/maxConcurrent`,
    );
  }
  for (const key of ['timeout', 'hardTimeout', 'resultTtl', 'idempotencyTtl'] as const) {
    if (o[key] !== undefined) parseDuration(o[key], at(key), fail);
  }
  if (o.timeout === 0 || o.hardTimeout === 0) fail(`${at('timeout')} must be greater than 0`);
  for (const key of ['removeOnComplete', 'removeOnFail'] as const) {
    if (o[key] !== undefined) toBullKeepJobs(o[key] as KeepJobs, at(key), fail);
  }
  if (o.schema !== undefined && !isStandardSchema(o.schema)) {
    fail(
      `${at('schema')} must implement Standard Schema (zod, valibot, arktype, …), got ${describe(o.schema)}`,
    );
  }
  if (o.on !== undefined) checkEventNames(o.on, at('on'), fail);
  if (o.isolation !== undefined) checkIsolation(o.isolation, at('isolation'), fail);
  if (o.searchable !== undefined) checkSearchable(o.searchable, at('searchable'), fail);
  if (o.backoff !== undefined && typeof o.backoff !== 'function') {
    if (!isPlainObject(o.backoff)) {
      fail(
        `${at('backoff')} must be { type, delay, max?, jitter? } or a function (attempt, error) => duration, got ${describe(o.backoff)}`,
      );
    }
    const b = checkObject(o.backoff, at('backoff'), fail);
    checkKnownKeys(b, BACKOFF_KEYS, at('backoff'), fail);
    if (b.type !== 'fixed' && b.type !== 'exponential') {
      fail(`${at('backoff.type')} must be 'fixed' or 'exponential', got ${describe(b.type)}`);
    }
    parseDuration(b.delay, at('backoff.delay'), fail);
    if (b.max !== undefined) parseDuration(b.max, at('backoff.max'), fail);
    if (
      b.jitter !== undefined &&
      (typeof b.jitter !== 'number' || !(b.jitter >= 0 && b.jitter <= 1))
    ) {
      fail(`${at('backoff.jitter')} must be a number from 0 to 1, got ${describe(b.jitter)}`);
    }
  }
}

export const SEARCHABLE_FIELD = /^[A-Za-z_$][\w$-]{0,63}(\.[A-Za-z_$][\w$-]{0,63}){0,4}$/;

/** `searchable`: up to 10 distinct payload field paths (`orderId`, `customer.id`). */
function checkSearchable(value: unknown, path: string, fail: Fail): void {
  if (!Array.isArray(value) || value.length === 0 || value.length > 10) {
    fail(`${path} must be a list of 1 to 10 payload field paths, got ${describe(value)}`);
  }
  for (const [i, field] of (value as unknown[]).entries()) {
    if (typeof field !== 'string' || !SEARCHABLE_FIELD.test(field)) {
      fail(
        `${path}[${i}] must be a payload field or a dot path of up to 5 of them (orderId, customer.id), got ${describe(field)}`,
      );
    }
  }
  if (new Set(value as string[]).size !== (value as string[]).length) {
    fail(`${path} names a field twice: ${describe(value)}`);
  }
}

/** Merges defaults, then the definition's options, then the handler's; later layers win. */
export function resolveTaskOptions(
  taskName: string,
  layers: ReadonlyArray<TaskOptions | TaskDefaults | undefined>,
): ResolvedTaskOptions {
  const fail: Fail = (problem) => {
    throw new InvalidTaskOptionsError(taskName, problem);
  };
  const merged: TaskOptions = Object.assign({}, BUILT_IN_DEFAULTS, ...layers.filter(Boolean));
  // A backoff function falls back to the nearest policy object below it (or the built-in one).
  const backoff = [BUILT_IN_DEFAULTS, ...layers]
    .map((layer) => layer?.backoff)
    .filter((b): b is BackoffOptions => b !== undefined && typeof b !== 'function')
    .pop()!;
  const resultTtlMs = parseDuration(merged.resultTtl, 'resultTtl', fail);
  return {
    queue: merged.queue!,
    attempts: merged.attempts!,
    backoff: {
      type: backoff.type,
      delayMs: parseDuration(backoff.delay, 'backoff.delay', fail),
      maxMs:
        backoff.max === undefined ? undefined : parseDuration(backoff.max, 'backoff.max', fail),
      jitter: backoff.jitter ?? 0,
    },
    backoffFn: typeof merged.backoff === 'function' ? merged.backoff : undefined,
    maxUncountedRetries: merged.maxUncountedRetries ?? DEFAULT_MAX_UNCOUNTED_RETRIES,
    priority: merged.priority!,
    timeoutMs:
      merged.timeout === undefined ? undefined : parseDuration(merged.timeout, 'timeout', fail),
    hardTimeoutMs:
      merged.hardTimeout === undefined
        ? undefined
        : parseDuration(merged.hardTimeout, 'hardTimeout', fail),
    removeOnComplete:
      merged.removeOnComplete !== undefined
        ? toBullKeepJobs(merged.removeOnComplete, 'removeOnComplete', fail)
        : resultTtlMs === 0
          ? true
          : { age: Math.ceil(resultTtlMs / 1000) },
    removeOnFail: toBullKeepJobs(merged.removeOnFail!, 'removeOnFail', fail),
    retryIf: merged.retryIf,
    schema: merged.schema as StandardSchemaV1 | undefined,
    maxPayloadBytes: merged.maxPayloadBytes!,
    idempotent: merged.idempotent ?? false,
    idempotencyTtlMs: parseDuration(merged.idempotencyTtl, 'idempotencyTtl', fail),
    ...runLimits(merged, fail),
    rateLimit:
      merged.rateLimit === undefined
        ? undefined
        : checkRateLimit(merged.rateLimit, 'rateLimit', fail),
    circuitBreaker:
      merged.circuitBreaker === undefined
        ? undefined
        : checkCircuitBreaker(merged.circuitBreaker, taskName, 'circuitBreaker', fail),
    hooks: {
      onSuccess: merged.onSuccess,
      onFailure: merged.onFailure,
      onDeadLetter: merged.onDeadLetter,
    },
    on: eventNames(merged.on, fail),
    isolation: merged.isolation,
    searchable: (merged.searchable as readonly string[] | undefined) ?? [],
  };
}

/** `isolation` of a task or a queue: `'inline'` or `'thread'`. */
export function checkIsolation(value: unknown, path: string, fail: Fail): TaskIsolation {
  if (value !== 'inline' && value !== 'thread') {
    fail(`${path} must be 'inline' or 'thread', got ${describe(value)}`);
  }
  return value as TaskIsolation;
}

/**
 * Locks are run slots of one; `concurrencyKey` splits `maxConcurrent` and `rateLimit` per
 * key. The layers (defaults, definition, handler) were each checked alone; here the merged
 * options are checked as a whole, so a combination split across layers fails at startup too.
 */
function runLimits(
  o: TaskOptions,
  fail: Fail,
): Pick<ResolvedTaskOptions, 'limitKey' | 'maxConcurrent' | 'exclusive'> {
  const lock = o.lock as ((payload: unknown) => string) | undefined;
  const key = o.concurrencyKey as ((payload: unknown) => string) | undefined;
  if (o.singleton && lock) fail('give either singleton or lock, not both');
  if ((o.singleton || lock) && (key || o.maxConcurrent !== undefined)) {
    fail(
      `${o.singleton ? 'singleton' : 'lock'} already means one run at a time; drop ${key ? 'concurrencyKey' : 'maxConcurrent'}`,
    );
  }
  if (key && o.maxConcurrent === undefined && o.rateLimit === undefined) {
    fail('concurrencyKey limits nothing alone: give maxConcurrent or rateLimit (or both) with it');
  }
  if (o.singleton) return { maxConcurrent: 1, exclusive: true };
  if (lock) return { limitKey: lock, maxConcurrent: 1, exclusive: true };
  return { limitKey: key, maxConcurrent: o.maxConcurrent, exclusive: false };
}

/** Checks `circuitBreaker` and resolves it; its name defaults to `taskName`'s. */
export function checkCircuitBreaker(
  value: unknown,
  taskName: string | undefined,
  path: string,
  fail: Fail,
): ResolvedCircuitBreaker {
  const o = checkObject(value, path, fail);
  checkKnownKeys(o, CIRCUIT_BREAKER_KEYS, path, fail);
  if (o.name !== undefined && (typeof o.name !== 'string' || !BREAKER_NAME_PATTERN.test(o.name))) {
    fail(
      `${path}.name must be 1–200 characters of letters, digits and . _ - /, starting with a letter or digit; got ${describe(o.name)}`,
    );
  }
  const windowMs = parseDuration(o.window, `${path}.window`, fail);
  const cooldownMs = parseDuration(o.cooldown, `${path}.cooldown`, fail);
  if (windowMs === 0) fail(`${path}.window must be greater than 0`);
  if (cooldownMs === 0) fail(`${path}.cooldown must be greater than 0`);
  if (o.isFailure !== undefined && typeof o.isFailure !== 'function') {
    fail(`${path}.isFailure must be a function, got ${describe(o.isFailure)}`);
  }
  return {
    name: (o.name as string | undefined) ?? taskName ?? '',
    failureThreshold: checkInteger(o.failureThreshold, `${path}.failureThreshold`, 1, 1e6, fail),
    windowMs,
    cooldownMs,
    isFailure: o.isFailure as ((error: Error) => boolean) | undefined,
  };
}

const RATE_STRING = /^(\d+)\s*\/\s*(s|m|h)$/;
const RATE_PERIOD_MS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000 };
const RATE_FORMS = "{ max, per } or a rate like '10/s', '100/m', '1000/h'";

/** A rate limit as `{ max, per }` or Celery's `'N/s'`, `'N/m'`, `'N/h'`, in starts per ms window. */
export function checkRateLimit(
  value: unknown,
  path: string,
  fail: Fail,
): { max: number; perMs: number } {
  if (typeof value === 'string') {
    const match = RATE_STRING.exec(value.trim());
    if (!match) return fail(`${path} must be ${RATE_FORMS}; got '${value}'`);
    return {
      max: checkInteger(Number(match[1]), `${path} (the count in '${value}')`, 1, 1e9, fail),
      perMs: RATE_PERIOD_MS[match[2]],
    };
  }
  if (!isPlainObject(value)) fail(`${path} must be ${RATE_FORMS}; got ${describe(value)}`);
  const r = value as Record<string, unknown>;
  checkKnownKeys(r, ['max', 'per'], path, fail);
  const limit = {
    max: checkInteger(r.max, `${path}.max`, 1, 1e9, fail),
    perMs: parseDuration(r.per, `${path}.per`, fail),
  };
  if (limit.perMs === 0) fail(`${path}.per must be greater than 0`);
  return limit;
}

/**
 * `on` takes `defineEvent()` references and event names, alone or in a list. Event names
 * follow the task-name rules: no ':' or spaces, so they can be part of job ids.
 */
function checkEventNames(value: unknown, path: string, fail: Fail): void {
  if (Array.isArray(value) && value.length === 0) fail(`${path} must name at least one event`);
  for (const event of Array.isArray(value) ? value : [value]) {
    eventNameOf(event, (problem) =>
      fail(
        `${path} must be an event reference (defineEvent()), an event name or a list of them; ${problem}`,
      ),
    );
  }
}

/** The names of the events in a checked `on` option, without duplicates. */
function eventNames(on: EventSubscription | undefined, fail: Fail): string[] {
  if (on === undefined) return [];
  const events: readonly unknown[] = Array.isArray(on) ? on : [on];
  return [...new Set(events.map((event) => eventNameOf(event, fail)))];
}

function toBullKeepJobs(value: KeepJobs, path: string, fail: Fail): BullKeepJobs | boolean {
  if (typeof value === 'boolean') return value;
  if (!isPlainObject(value))
    return fail(`${path} must be a boolean or { age, count }, got ${describe(value)}`);
  checkKnownKeys(value, ['age', 'count'], path, fail);
  if (value.age === undefined && value.count === undefined)
    fail(`${path} needs age, count or both`);
  const keep: { age?: number; count?: number } = {};
  // BullMQ counts age in seconds.
  if (value.age !== undefined)
    keep.age = Math.ceil(parseDuration(value.age, `${path}.age`, fail) / 1000);
  if (value.count !== undefined)
    keep.count = checkInteger(value.count, `${path}.count`, 0, 1e9, fail);
  return keep as BullKeepJobs;
}

export function isStandardSchema(value: unknown): value is StandardSchemaV1 {
  const standard = (value as { '~standard'?: { version?: unknown; validate?: unknown } } | null)?.[
    '~standard'
  ];
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    standard?.version === 1 &&
    typeof standard.validate === 'function'
  );
}
