import { Injectable } from '@nestjs/common';
import { TaskInstrumentation } from '@conveyor/tasks';
import {
  captureTrace,
  ConveyorLogger,
  conveyorTracer,
  errorField,
  restoreTrace,
  searchPairs,
} from '@conveyor/tasks/internal';
import { type Span, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { Queue } from 'bullmq';
import type { OutboxRow } from '../store/outbox-store.interface';
import { beforeDeadline } from './bounded';
import { RelayRedis } from './relay-redis';
import { type RowJob, rowJobs } from './row-jobs';

interface BulkJob extends RowJob {
  rowId: string;
}

/**
 * Why rows were not published. `row`: the row itself is wrong (malformed, or a job BullMQ or
 * Redis refused when sent alone), so trying again will fail again until someone fixes it;
 * such failures count towards setting the row aside. `redis`: Redis was unreachable, too slow,
 * or refused every command (out of memory, read-only, a wrong password …): not the row's
 * fault, so it is retried for as long as it takes.
 */
export type PublishFailureCause = 'row' | 'redis';

/** Outcome of publishing one claimed batch. */
export interface PublishOutcome {
  published: string[];
  failed: Array<{ ids: string[]; error: Error; cause: PublishFailureCause }>;
}

interface RowFailure {
  error: Error;
  cause: PublishFailureCause;
}

/**
 * Turns claimed rows into BullMQ jobs: one `addBulk` per queue (one round trip each, run
 * together). A row is published only when every job it implies was accepted. A row that
 * cannot become jobs (malformed) fails alone before anything is sent; when an `addBulk` is
 * refused while Redis answers, its jobs are sent again one by one, so only the job Redis or
 * BullMQ refuses fails. Every Redis call is bounded: a batch gets `timeoutMs` in all, and
 * rows whose jobs are not acknowledged by then fail with `RedisTimeoutError`.
 */
@Injectable()
export class OutboxPublisher {
  private readonly logger = new ConveyorLogger('ConveyorOutbox');

  constructor(
    private readonly redis: RelayRedis,
    private readonly instrumentation: TaskInstrumentation,
  ) {}

  /**
   * Resolves once the relay's Redis connection is up, waiting for it at most `timeoutMs`;
   * rejects with `RedisUnavailableError` (and its cause) otherwise. The relay asks this
   * first and claims nothing while Redis does not answer.
   */
  reachable(timeoutMs: number): Promise<void> {
    return this.redis.ready(timeoutMs);
  }

  async publish(rows: readonly OutboxRow[], timeoutMs: number): Promise<PublishOutcome> {
    const deadline = Date.now() + timeoutMs;
    const byQueue = new Map<string, BulkJob[]>();
    const spans = new Map<string, Span>();
    const failedRows = new Map<string, RowFailure>();
    const fail = (rowId: string, error: Error, cause: PublishFailureCause) => {
      // A row with a job Redis could not take is retried as Redis trouble, whatever its
      // other jobs met: it must never be set aside for an outage.
      if (failedRows.get(rowId)?.cause !== 'redis') failedRows.set(rowId, { error, cause });
    };
    const now = Date.now();
    for (const row of rows) {
      const span = relaySpan(row);
      if (span) spans.set(row.id, span);
      let jobs: RowJob[];
      try {
        jobs = rowJobs(row, span && carrierOf(row, span), now);
      } catch (error) {
        fail(row.id, error as Error, 'row');
        continue;
      }
      for (const job of jobs) {
        const list = byQueue.get(job.queue) ?? [];
        list.push({ ...job, rowId: row.id });
        byQueue.set(job.queue, list);
      }
    }
    await Promise.all(
      [...byQueue].map(([queue, jobs]) => this.addJobs(queue, jobs, deadline, fail)),
    );
    for (const [id, span] of spans) {
      const failure = failedRows.get(id);
      if (failure) span.setStatus({ code: SpanStatusCode.ERROR, message: failure.error.message });
      span.end();
    }
    const failed = new Map<Error, { ids: string[]; cause: PublishFailureCause }>();
    for (const [id, { error, cause }] of failedRows) {
      const group = failed.get(error) ?? { ids: [], cause };
      group.ids.push(id);
      failed.set(error, group);
    }
    return {
      published: rows.map((r) => r.id).filter((id) => !failedRows.has(id)),
      failed: [...failed].map(([error, { ids, cause }]) => ({ ids, error, cause })),
    };
  }

  /**
   * Adds one queue's jobs: one `addBulk`, and when that is refused while Redis answers, each
   * job on its own, so a job BullMQ or Redis refuses fails alone. With Redis in trouble, each
   * would fail the same way: the batch fails as it is.
   */
  private async addJobs(
    queue: string,
    jobs: BulkJob[],
    deadline: number,
    fail: (rowId: string, error: Error, cause: PublishFailureCause) => void,
  ): Promise<void> {
    let q: Queue;
    try {
      q = this.redis.queue(queue);
    } catch (error) {
      // BullMQ refuses the queue name itself.
      for (const job of jobs) fail(job.rowId, refusal(job, queue, error as Error), 'row');
      return;
    }
    try {
      await beforeDeadline(
        () => q.addBulk(jobs.map(({ name, data, opts }) => ({ name, data, opts }))),
        deadline,
        `addBulk (queue ${queue})`,
      );
      for (const job of jobs) this.instrumentation.enqueued(job.name, queue, 1);
      await this.index(queue, jobs, deadline);
      return;
    } catch (error) {
      if (isRedisTrouble(error as Error)) {
        for (const job of jobs) fail(job.rowId, error as Error, 'redis');
        return;
      }
      if (jobs.length === 1) {
        fail(jobs[0]!.rowId, refusal(jobs[0]!, queue, error as Error), 'row');
        return;
      }
    }
    // One by one, same job ids: a job the refused bulk added before the refusal (a pipeline
    // goes on past a failed command) is found by its id, not added twice.
    for (const job of jobs) {
      await beforeDeadline(
        () => q.add(job.name, job.data, job.opts),
        deadline,
        `add (queue ${queue})`,
      ).then(
        async () => {
          this.instrumentation.enqueued(job.name, queue, 1);
          await this.index(queue, [job], deadline);
        },
        (error: Error) =>
          isRedisTrouble(error)
            ? fail(job.rowId, error, 'redis')
            : fail(job.rowId, refusal(job, queue, error), 'row'),
      );
    }
  }

  /**
   * Adds published jobs of tasks with `searchable` fields to their queue's search index. The
   * jobs are in BullMQ already and the rows count as published whatever happens here: a
   * failed index write is logged, and those jobs are found by id or the dashboard's scan.
   */
  private async index(queue: string, jobs: readonly BulkJob[], deadline: number): Promise<void> {
    const entries = jobs
      .filter((job) => job.search?.length)
      .map((job) => ({ id: String(job.opts.jobId), pairs: searchPairs(job.search!, job.data) }));
    if (!entries.length) return;
    try {
      await beforeDeadline(
        () => this.redis.searchIndex.write(queue, entries),
        deadline,
        `search index (queue ${queue})`,
      );
    } catch (error) {
      this.logger.warn(
        `${entries.length} published job(s) of queue ${queue} not added to its search index: ${(error as Error).message}`,
        { queue, error: errorField(error) },
      );
    }
  }
}

/** A job refused on its own, with what an operator needs to find it. */
function refusal(job: BulkJob, queue: string, error: Error): Error {
  return new Error(
    `job ${String(job.opts.jobId)} (task ${JSON.stringify(job.name)}, queue ${JSON.stringify(queue)}) was refused: ${error.message}`,
    { cause: error },
  );
}

/**
 * A PRODUCER span for publishing a row, child of the context stored when the row was written
 * (the request that wrote it), so the trace runs request → outbox → relay → handler.
 */
function relaySpan(row: OutboxRow): Span | undefined {
  if (!row.trace) return undefined;
  try {
    return startRelaySpan(row);
  } catch {
    // A trace column of another shape: tracing never decides whether a row is published.
    return undefined;
  }
}

function startRelaySpan(row: OutboxRow): Span | undefined {
  const span = conveyorTracer().startSpan(
    `publish ${row.queue ?? row.name}`,
    {
      kind: SpanKind.PRODUCER,
      attributes: {
        'messaging.system': 'bullmq',
        'messaging.operation.type': 'send',
        'messaging.operation.name': 'publish',
        'conveyor.outbox.kind': row.kind,
        'conveyor.outbox.name': row.name,
        'conveyor.outbox.attempt': row.attempts + 1,
        ...(row.queue ? { 'messaging.destination.name': row.queue } : {}),
      },
    },
    restoreTrace(row.trace),
  );
  return span.isRecording() ? span : undefined;
}

/** The trace carrier a row's jobs take: the relay span, in the trace the row was written in. */
function carrierOf(row: OutboxRow, span: Span): Record<string, string> | undefined {
  try {
    return captureTrace(trace.setSpan(restoreTrace(row.trace), span));
  } catch {
    return undefined;
  }
}

const CONNECTION_ERROR =
  /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|ENOTFOUND|EAI_AGAIN|Connection is closed|max retries per request|Stream isn't writeable|connection|Command timed out/i;

/**
 * Replies with which Redis refuses every command for a while, whatever the job: out of memory,
 * a replica or a node that is failing over, a dataset still loading, a script running too
 * long, a password or an ACL that does not let the relay in, a full client table.
 */
const REDIS_REFUSES_ALL =
  /^(OOM|READONLY|LOADING|BUSY|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|NOREPLICAS|MISCONF|NOAUTH|WRONGPASS|NOPERM)\b|^ERR max number of clients/;

/**
 * Whether an error says Redis is in trouble (unreachable, too slow, refusing every command)
 * rather than refusing this job: such a failure is retried for as long as it lasts, and
 * never counts towards setting a row aside.
 */
export function isRedisTrouble(error: Error): boolean {
  return (
    error?.name === 'MaxRetriesPerRequestError' ||
    error?.name === 'RedisTimeoutError' ||
    error?.name === 'RedisUnavailableError' ||
    CONNECTION_ERROR.test(String(error?.message)) ||
    REDIS_REFUSES_ALL.test(String(error?.message))
  );
}
