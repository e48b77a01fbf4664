import { InvalidPayloadError } from '@conveyor/tasks';
import { checkPayload, SEARCHABLE_FIELD } from '@conveyor/tasks/internal';
import type { JobsOptions } from 'bullmq';
import { MalformedOutboxRowError } from '../errors/malformed-outbox-row.error';
import { eventJobId, taskJobId } from '../outbox.service';
import type { OutboxJob, OutboxRow } from '../store/outbox-store.interface';

/** One BullMQ job a row turns into: its queue, and what `addBulk` takes. */
export interface RowJob {
  queue: string;
  name: string;
  data: unknown;
  opts: JobsOptions;
  /** Payload fields to index for search (the task's `searchable`), if any. */
  search?: readonly string[];
}

/**
 * The jobs a claimed row turns into, with their ids (derived from the row id), the delay left
 * until `delayUntil`, and the trace carrier. The row is checked first: one not written by
 * `Outbox` (by hand, by a migration, by other code) may have any shape, and the columns are
 * only as strict as the table a migration made. Throws `MalformedOutboxRowError` naming what
 * is wrong; nothing else in the row is trusted before that.
 */
export function rowJobs(
  row: OutboxRow,
  carrier?: Record<string, string>,
  now = Date.now(),
): RowJob[] {
  const jobs = checkedJobs(row);
  return jobs.map((job) => {
    const { delayUntil, ...opts } = job.opts;
    const jobId = row.kind === 'task' ? taskJobId(row.id, job) : eventJobId(row.id, job);
    const bulkOpts: JobsOptions = { ...(opts as JobsOptions), jobId };
    if (delayUntil !== undefined && delayUntil > now) bulkOpts.delay = delayUntil - now;
    if (carrier) bulkOpts.telemetry = { metadata: JSON.stringify(carrier) };
    // A row written by hand may carry anything there: only field paths a task could declare
    // are taken, 10 at most, as `searchable` allows.
    const search = Array.isArray(job.search)
      ? job.search
          .filter(
            (field): field is string => typeof field === 'string' && SEARCHABLE_FIELD.test(field),
          )
          .slice(0, 10)
      : undefined;
    return {
      queue: job.queue,
      name: job.task,
      data: row.payload,
      opts: bulkOpts,
      ...(search?.length ? { search } : {}),
    };
  });
}

function checkedJobs(row: OutboxRow): OutboxJob[] {
  const problems: string[] = [];
  const { kind, options } = row as { kind: unknown; options: unknown };
  let jobs: unknown[] = [];
  if (kind !== 'task' && kind !== 'event') {
    problems.push(`kind is ${JSON.stringify(kind)}; it must be "task" or "event"`);
  } else if (!isPlainObject(options)) {
    problems.push(
      `options is ${describe(options)}; it must be an object: ` +
        (kind === 'task' ? '{ job: { task, queue, opts } }' : '{ jobs: [{ task, queue, opts }] }'),
    );
  } else if (kind === 'task') {
    if (options.job === undefined) {
      problems.push('options.job is missing; a task row needs options.job = { task, queue, opts }');
    } else {
      jobs = [options.job];
      checkJob(options.job, 'options.job', problems);
    }
  } else if (options.jobs === undefined) {
    problems.push(
      'options.jobs is missing; an event row needs options.jobs = [{ task, queue, opts }]',
    );
  } else if (!Array.isArray(options.jobs)) {
    problems.push(`options.jobs is ${describe(options.jobs)}, not a list`);
  } else {
    jobs = options.jobs;
    jobs.forEach((job, i) => checkJob(job, `options.jobs[${i}]`, problems));
  }
  try {
    // A jsonb number past the range of a double reads back as Infinity, which JSON turns
    // into null: the job would run on other data than the row holds. No size limit here: the
    // writer applied the task's, and the relay may not know the task.
    checkPayload(String(row.name), row.payload, Infinity);
  } catch (error) {
    if (!(error instanceof InvalidPayloadError)) throw error;
    problems.push(...error.problems);
  }
  if (problems.length > 0) {
    throw new MalformedOutboxRowError(
      String(row.id),
      problems,
      `${String(kind)} ${JSON.stringify(row.name)}`,
    );
  }
  return jobs as OutboxJob[];
}

function checkJob(job: unknown, path: string, problems: string[]): void {
  if (!isPlainObject(job)) {
    problems.push(`${path} is ${describe(job)}; it must be an object { task, queue, opts }`);
    return;
  }
  for (const key of ['task', 'queue'] as const) {
    const value = job[key];
    if (typeof value !== 'string' || value === '') {
      problems.push(
        `${path}.${key} is ${value === undefined ? 'missing' : describe(value)}; it must be the ${key} name`,
      );
    }
  }
  if (typeof job.queue === 'string' && job.queue.includes(':')) {
    problems.push(`${path}.queue ${JSON.stringify(job.queue)} holds a ':', which BullMQ refuses`);
  }
  if (!isPlainObject(job.opts)) {
    problems.push(
      `${path}.opts is ${job.opts === undefined ? 'missing' : describe(job.opts)}; it must be an object of job options`,
    );
    return;
  }
  const { jobId, delayUntil } = job.opts;
  if (jobId !== undefined && (typeof jobId !== 'string' || jobId === '')) {
    problems.push(`${path}.opts.jobId is ${describe(jobId)}; it must be a non-empty string`);
  }
  if (
    delayUntil !== undefined &&
    !(typeof delayUntil === 'number' && Number.isFinite(delayUntil))
  ) {
    problems.push(`${path}.opts.delayUntil is ${describe(delayUntil)}; it must be epoch ms`);
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'string') return `the string ${JSON.stringify(value)}`;
  if (typeof value === 'object') return 'an object';
  return `${typeof value === 'number' ? 'the number' : `a ${typeof value}`} ${String(value)}`;
}
