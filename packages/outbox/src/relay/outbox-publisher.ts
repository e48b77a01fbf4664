import { Injectable } from '@nestjs/common';
import { captureTrace, conveyorTracer, restoreTrace, TaskInstrumentation } from '@conveyor/tasks';
import { type Span, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { JobsOptions } from 'bullmq';
import { eventJobId, taskJobId } from '../outbox.service';
import type { OutboxRow } from '../store/outbox-store.interface';
import { beforeDeadline } from './bounded';
import { RelayRedis } from './relay-redis';

interface BulkJob {
  rowId: string;
  name: string;
  data: unknown;
  opts: JobsOptions;
}

/** Outcome of publishing one claimed batch. */
export interface PublishOutcome {
  published: string[];
  failed: Array<{ ids: string[]; error: Error }>;
}

/**
 * Turns claimed rows into BullMQ jobs: one `addBulk` per queue (one round trip each, run
 * together). A row is published only when every job it implies was accepted. Every Redis
 * call is bounded: a batch gets `timeoutMs` in all, and rows whose jobs are not acknowledged
 * by then fail with `RedisTimeoutError`.
 */
@Injectable()
export class OutboxPublisher {
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
    for (const row of rows) {
      const span = relaySpan(row);
      if (span) spans.set(row.id, span);
      for (const job of jobsOf(row, span)) {
        const list = byQueue.get(job.queue) ?? [];
        list.push(job.bulk);
        byQueue.set(job.queue, list);
      }
    }
    const failedRows = new Map<string, Error>();
    await Promise.all(
      [...byQueue].map(async ([queue, jobs]) => {
        const q = this.redis.queue(queue);
        try {
          await beforeDeadline(
            () => q.addBulk(jobs.map(({ name, data, opts }) => ({ name, data, opts }))),
            deadline,
            `addBulk (queue ${queue})`,
          );
          for (const job of jobs) this.instrumentation.enqueued(job.name, queue, 1);
        } catch (error) {
          // With Redis up, one bad job fails the whole bulk: retry one by one so it does not
          // hold back the rows beside it. With Redis down, each would fail the same way.
          if (jobs.length === 1 || isConnectionError(error as Error)) {
            for (const job of jobs) failedRows.set(job.rowId, error as Error);
            return;
          }
          for (const job of jobs) {
            await beforeDeadline(
              () => q.add(job.name, job.data, job.opts),
              deadline,
              `add (queue ${queue})`,
            ).then(
              () => this.instrumentation.enqueued(job.name, queue, 1),
              (e: Error) => failedRows.set(job.rowId, e),
            );
          }
        }
      }),
    );
    for (const [id, span] of spans) {
      const error = failedRows.get(id);
      if (error) span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
      span.end();
    }
    const failed = new Map<Error, string[]>();
    for (const [id, error] of failedRows) failed.set(error, [...(failed.get(error) ?? []), id]);
    return {
      published: rows.map((r) => r.id).filter((id) => !failedRows.has(id)),
      failed: [...failed].map(([error, ids]) => ({ ids, error })),
    };
  }
}

/**
 * A PRODUCER span for publishing a row, child of the context stored when the row was written
 * (the request that wrote it), so the trace runs request → outbox → relay → handler.
 */
function relaySpan(row: OutboxRow): Span | undefined {
  if (!row.trace) return undefined;
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

function jobsOf(row: OutboxRow, span?: Span): Array<{ queue: string; bulk: BulkJob }> {
  const carrier = span && captureTrace(trace.setSpan(restoreTrace(row.trace), span));
  const now = Date.now();
  const jobs = row.kind === 'task' ? [row.options.job!] : (row.options.jobs ?? []);
  return jobs.map((job) => {
    const { delayUntil, ...opts } = job.opts;
    const jobId = row.kind === 'task' ? taskJobId(row.id, job) : eventJobId(row.id, job);
    const bulkOpts: JobsOptions = { ...(opts as JobsOptions), jobId };
    if (delayUntil !== undefined && delayUntil > now) bulkOpts.delay = delayUntil - now;
    if (carrier) bulkOpts.telemetry = { metadata: JSON.stringify(carrier) };
    return {
      queue: job.queue,
      bulk: { rowId: row.id, name: job.task, data: row.payload, opts: bulkOpts },
    };
  });
}

const CONNECTION_ERROR =
  /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|ENOTFOUND|EAI_AGAIN|Connection is closed|max retries per request|Stream isn't writeable|connection/i;

function isConnectionError(error: Error): boolean {
  return (
    error?.name === 'MaxRetriesPerRequestError' ||
    error?.name === 'RedisTimeoutError' ||
    error?.name === 'RedisUnavailableError' ||
    CONNECTION_ERROR.test(String(error?.message))
  );
}
