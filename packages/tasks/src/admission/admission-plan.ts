import { InvalidLimitKeyError } from '../errors';
import type { ResolvedTaskOptions } from '../options/task-options';

/** One limit a run must pass: a task, or a task and a key. See `lua/includes/wakeScope.lua`. */
export interface AdmissionScope {
  /** `t:<task>`, `t:<task>:<key>`, or `j:<jobId>` for one job's own exclusion. */
  name: string;
  /** Runs at once; 0: no slot limit. */
  slots: number;
  /** Starts per window; 0: no rate limit. */
  rateMax: number;
  rateWindowMs: number;
}

/** What one run must pass before its handler starts. */
export interface AdmissionPlan {
  scopes: AdmissionScope[];
  /**
   * When a stored result answers the run: always (an idempotent job), for a job that holds no
   * reservation (a possible second delivery of an exclusive job), or never.
   */
  checkResult: 'always' | 'unreserved' | 'never';
  /** How many next jobs in line to look at for parking with a refused one. */
  lookahead: number;
  /** Store the result for `idempotencyTtl` after success (an idempotent job). */
  idempotent: boolean;
}

/** Jobs of a task-wide limit parked together with the refused one, at most, per refusal. */
export const LOOKAHEAD = 500;

/**
 * Jobs looked at, per refusal of a keyed limit, for a scope that already has a line (each costs
 * Redis a read of the job's options, so fewer than for a task-wide limit).
 */
export const KEYED_LOOKAHEAD = 100;

/**
 * Where the producer stores a keyed job's scope in its BullMQ options, for the keyed
 * lookahead (`lua/includes/parkFetched.lua`), which reads it without the payload.
 */
export const STORED_SCOPE = 'cvs';

const MAX_KEY_LENGTH = 512;

/**
 * The admission a run of `taskName` needs, or `undefined` when it needs none (no limits, not
 * idempotent): most tasks, whose runs then cost no trip to Redis here.
 */
export function admissionPlan(
  taskName: string,
  options: ResolvedTaskOptions,
  payload: unknown,
  jobId: string,
  idempotent: boolean,
): AdmissionPlan | undefined {
  const slots = options.maxConcurrent ?? 0;
  const limited = limitScope(taskName, options, payload);
  if (!limited && !idempotent) return undefined;
  const scopes: AdmissionScope[] = [];
  if (limited) {
    scopes.push({
      name: limited,
      slots,
      rateMax: options.rateLimit?.max ?? 0,
      rateWindowMs: options.rateLimit?.perMs ?? 0,
    });
  }
  // A slot of the task's own already keeps two deliveries of one job apart (admit.lua looks
  // for the job among the holders); otherwise an idempotent job takes a slot of its own.
  if (idempotent && slots === 0) {
    scopes.push({ name: `j:${jobId}`, slots: 1, rateMax: 0, rateWindowMs: 0 });
  }
  return {
    scopes,
    checkResult: idempotent ? 'always' : slots > 0 ? 'unreserved' : 'never',
    lookahead: !limited ? 0 : options.limitKey ? KEYED_LOOKAHEAD : LOOKAHEAD,
    idempotent,
  };
}

/**
 * The scope of the task's run limits for this payload: `t:<task>`, `t:<task>:<key>` with a
 * `lock` or `concurrencyKey`, or `undefined` when the task has no limit. Throws
 * `InvalidLimitKeyError` when the key function throws or returns no usable key.
 */
export function limitScope(
  taskName: string,
  options: ResolvedTaskOptions,
  payload: unknown,
): string | undefined {
  if (!options.maxConcurrent && options.rateLimit === undefined) return undefined;
  return options.limitKey
    ? `t:${taskName}:${limitKey(taskName, options.limitKey, payload)}`
    : `t:${taskName}`;
}

function limitKey(taskName: string, key: (payload: unknown) => string, payload: unknown): string {
  let value: unknown;
  try {
    value = key(payload);
  } catch (error) {
    throw new InvalidLimitKeyError(taskName, `threw: ${(error as Error)?.message}`, {
      cause: error,
    });
  }
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_KEY_LENGTH) {
    const got = typeof value === 'string' ? `${value.length} characters` : typeof value;
    throw new InvalidLimitKeyError(
      taskName,
      `must return a string of 1–${MAX_KEY_LENGTH} characters, got ${got}`,
    );
  }
  return value;
}
