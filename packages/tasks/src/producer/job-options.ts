import { createHash } from 'node:crypto';
import type { JobsOptions } from 'bullmq';
import { limitScope, STORED_SCOPE } from '../admission/admission-plan';
import type { EnqueueOptions } from '../interfaces/enqueue-options.interface';
import { MAX_PRIORITY, type ResolvedTaskOptions } from '../options/task-options';
import { checkPayload, checkSchema, validatePayload } from '../payload/validate-payload';
import type { TaskDefinition } from '../tasks.registry';
import type { TaskRouting } from '../routing/task-routing';
import { InvalidPayloadError, InvalidTaskOptionsError } from '../errors';
import { stableJson } from '../payload/stable-json';
import {
  checkInteger,
  checkKnownKeys,
  describe,
  type Fail,
  isPlainObject,
  parseDuration,
} from '../options/validation';

const ENQUEUE_KEYS = ['queue', 'delay', 'runAt', 'priority', 'attempts', 'jobId', 'idempotencyKey'];
const JOB_ID_PATTERN = /^[^:\s]{1,256}$/;

/** The backoff type our workers compute (see `backoffDelay`); BullMQ calls back for it. */
export const CONVEYOR_BACKOFF = 'conveyor';

/** One job ready to add: its queue and its BullMQ options. */
export interface PreparedJob {
  queue: string;
  opts: JobsOptions;
}

/**
 * BullMQ job options for one enqueue: the task's options overridden by the call's, checked
 * with errors that name the task and the option. The call's `queue` is `routeJob`'s concern.
 */
export function buildJobOptions(
  taskName: string,
  task: ResolvedTaskOptions,
  options: EnqueueOptions | undefined,
  bulk = false,
): JobsOptions {
  const fail: Fail = (problem) => {
    throw new InvalidTaskOptionsError(taskName, problem);
  };
  // Only what differs from BullMQ's defaults is stored: every job carries its options, and
  // every worker parses them again on every start.
  const jobOptions: JobsOptions = { removeOnComplete: task.removeOnComplete };
  if (task.attempts !== 1) jobOptions.attempts = task.attempts;
  if (task.priority) jobOptions.priority = task.priority;
  if (task.removeOnFail !== false) jobOptions.removeOnFail = task.removeOnFail;
  if (options === undefined) return withBackoff(jobOptions, task);
  if (!isPlainObject(options)) fail(`enqueue options must be an object, got ${describe(options)}`);
  checkKnownKeys(options, ENQUEUE_KEYS, '', fail);

  if (options.delay !== undefined && options.runAt !== undefined)
    fail('give either delay or runAt, not both');
  if (options.delay !== undefined) jobOptions.delay = parseDuration(options.delay, 'delay', fail);
  if (options.runAt !== undefined) {
    if (!(options.runAt instanceof Date) || Number.isNaN(options.runAt.getTime())) {
      fail(`runAt must be a valid Date, got ${describe(options.runAt)}`);
    }
    jobOptions.delay = Math.max(0, options.runAt.getTime() - Date.now());
  }
  if (options.priority !== undefined) {
    jobOptions.priority =
      checkInteger(options.priority, 'priority', 0, MAX_PRIORITY, fail) || undefined;
  }
  if (options.attempts !== undefined) {
    jobOptions.attempts = checkInteger(options.attempts, 'attempts', 1, 1_000_000, fail);
  }
  if (bulk && (options.jobId !== undefined || options.idempotencyKey !== undefined)) {
    fail('jobId and idempotencyKey name one job; enqueue those jobs one by one');
  }
  if (options.jobId !== undefined && options.idempotencyKey !== undefined) {
    fail('give either jobId or idempotencyKey, not both');
  }
  if (options.jobId !== undefined) {
    if (
      typeof options.jobId !== 'string' ||
      !JOB_ID_PATTERN.test(options.jobId) ||
      /^\d+$/.test(options.jobId)
    ) {
      fail(
        `jobId must be 1–256 characters without ':' or spaces and not a plain integer ` +
          `(BullMQ's own ids are integers), got ${describe(options.jobId)}`,
      );
    }
    jobOptions.jobId = options.jobId;
  }
  if (options.idempotencyKey !== undefined) {
    if (typeof options.idempotencyKey !== 'string' || options.idempotencyKey.length === 0) {
      fail(`idempotencyKey must be a non-empty string, got ${describe(options.idempotencyKey)}`);
    }
    jobOptions.jobId = idempotentJobId(taskName, options.idempotencyKey);
  }
  return withBackoff(jobOptions, task);
}

/** A job id derived from task and key: stable, free of ':' and never a plain integer. */
export function idempotentJobId(taskName: string, key: string): string {
  const digest = createHash('sha256').update(taskName).update('\0').update(key).digest('base64url');
  return `${taskName}~${digest.slice(0, 32)}`;
}

/**
 * The job id of an `idempotent` task's job that has no `jobId`/`idempotencyKey` of its own:
 * the key is the payload as stable JSON, so equal payloads (whatever their key order) are one
 * job. What `TaskProducer.enqueue` derives; `Outbox.enqueue`/`emit` derive the same.
 */
export function payloadJobId(taskName: string, payload: unknown): string {
  return idempotentJobId(taskName, stableJson(payload));
}

function withBackoff(jobOptions: JobsOptions, task: ResolvedTaskOptions): JobsOptions {
  if ((jobOptions.attempts ?? 1) > 1) {
    jobOptions.backoff = { type: CONVEYOR_BACKOFF, delay: task.backoff.delayMs };
  }
  return jobOptions;
}

/**
 * Stores a keyed job's limit scope in its options (`cvs`), where the keyed lookahead reads it
 * to park the job, when its key already has a line, without a worker fetching it first. Only
 * for `lock` and `concurrencyKey` tasks. Throws `InvalidLimitKeyError` for a payload whose key
 * cannot be computed: that job could never be admitted.
 */
export function storeLimitScope(
  jobOptions: JobsOptions,
  taskName: string,
  task: ResolvedTaskOptions,
  payload: unknown,
): JobsOptions {
  if (!task.limitKey) return jobOptions;
  const scope = limitScope(taskName, task, payload);
  if (scope) (jobOptions as Record<string, unknown>)[STORED_SCOPE] = scope;
  return jobOptions;
}

/**
 * The queue of one job, by precedence: the call site's `queue` > the `router` > `routes` and
 * the task's own `queue` (already in `definition.options.queue`). A route's priority applies
 * unless the call gives its own. Throws `InvalidTaskOptionsError` naming the task for a
 * queue that is not declared or not consumed where the task runs.
 */
export function routeJob(
  definition: TaskDefinition,
  payload: unknown,
  options: EnqueueOptions | undefined,
  routing: TaskRouting,
  jobOptions: JobsOptions,
): string {
  const { name, options: task } = definition;
  const route = routing.route(name, task.queue, payload, options, (problem) => {
    throw new InvalidTaskOptionsError(name, problem);
  });
  if (!route) return task.queue;
  if (route.priority !== undefined && options?.priority === undefined) {
    jobOptions.priority = route.priority || undefined;
  }
  return route.queue;
}

/**
 * Everything `TaskProducer.enqueue` checks before Redis, and the job it then sends: the
 * options (`InvalidTaskOptionsError`), the queue (`routeJob`), the payload's JSON safety and
 * size and the task's schema (`InvalidPayloadError`), an `idempotent` task's job id, a keyed
 * task's limit scope (`InvalidLimitKeyError`). Synchronous for a task without a schema: that
 * is every job's path, and a promise there is not free.
 */
export function prepareEnqueue(
  definition: TaskDefinition,
  payload: unknown,
  options: EnqueueOptions | undefined,
  routing: TaskRouting,
): PreparedJob | Promise<PreparedJob> {
  const { name, options: task } = definition;
  const jobOptions = buildJobOptions(name, task, options);
  checkPayload(name, payload, task.maxPayloadBytes);
  const finish = (): PreparedJob => {
    // After the payload checks: a router may read the payload.
    const queue = routeJob(definition, payload, options, routing, jobOptions);
    if (task.idempotent && jobOptions.jobId === undefined) {
      jobOptions.jobId = payloadJobId(name, payload);
    }
    return { queue, opts: storeLimitScope(jobOptions, name, task, payload) };
  };
  return task.schema ? checkSchema(name, task.schema, payload).then(finish) : finish();
}

/**
 * What `TaskProducer.enqueueMany` checks before Redis: every payload first (a problem names its
 * index), so that either every job is added or none is. Returns each job's queue and options;
 * a `router` may send the jobs of one batch to different queues.
 */
export async function prepareEnqueueMany(
  definition: TaskDefinition,
  payloads: readonly unknown[],
  options: EnqueueOptions | undefined,
  routing: TaskRouting,
): Promise<PreparedJob[]> {
  const { name, options: task } = definition;
  if (!Array.isArray(payloads)) {
    throw new InvalidPayloadError(name, [
      `enqueueMany takes an array of payloads, got ${describe(payloads)}`,
    ]);
  }
  const opts = buildJobOptions(name, task, options, true);
  await Promise.all(
    payloads.map((payload, i) =>
      validatePayload(name, payload, task).catch((error: unknown) => {
        if (error instanceof InvalidPayloadError) {
          throw new InvalidPayloadError(
            name,
            error.problems.map((p) => `[${i}] ${p}`),
          );
        }
        throw error;
      }),
    ),
  );
  return payloads.map((payload) => {
    const jobOptions = task.idempotent
      ? { ...opts, jobId: payloadJobId(name, payload) }
      : { ...opts };
    const queue = routeJob(definition, payload, options, routing, jobOptions);
    return { queue, opts: storeLimitScope(jobOptions, name, task, payload) };
  });
}

/**
 * The queue of a handle made from a stored job id: `options.queue` (a queue this app declares,
 * any when it declares none) for a job sent elsewhere than its task's queue, else the task's.
 */
export function handleQueue(
  definition: TaskDefinition,
  options: { queue?: string } | undefined,
  declared: ReadonlyMap<string, unknown> | undefined,
): string {
  const queue = options?.queue;
  if (queue === undefined) return definition.options.queue;
  if (typeof queue !== 'string' || (declared && !declared.has(queue))) {
    const known = declared ? ` (${[...declared.keys()].join(', ')})` : '';
    throw new InvalidTaskOptionsError(
      definition.name,
      `handle() queue must be a queue this app declares${known}, got ${describe(queue)}`,
    );
  }
  return queue;
}
