import { ConveyorError } from './conveyor.error';

/**
 * Redis did not take a job: it is out of memory (`maxmemory` with `noeviction`), read-only,
 * or unreachable. The message says which and never includes the connection string. When
 * Redis refused the write (`refused`), nothing was added; when the connection failed, the
 * job may or may not have been added: retry with the same `jobId` or `idempotencyKey`, or
 * write through the outbox, which retries for you.
 */
export class EnqueueFailedError extends ConveyorError {
  override readonly name = 'EnqueueFailedError';

  constructor(
    readonly taskName: string,
    readonly queue: string,
    readonly reason: 'out-of-memory' | 'refused' | 'connection',
    cause: Error,
    detail = firstLine(cause.message),
  ) {
    super(`Could not enqueue task "${taskName}" on queue "${queue}": ${explain(reason, detail)}`, {
      cause,
    });
  }

  /**
   * Wraps an error from Redis; Conveyor's own errors pass through unchanged. A call Redis did
   * not answer in time carries what the connection last reported (ECONNREFUSED, NOAUTH, …):
   * that is the `cause`, and the message names both.
   */
  static from(taskName: string, queue: string, error: unknown): unknown {
    if (error instanceof ConveyorError || !(error instanceof Error)) return error;
    if (error.name === 'RedisUnavailable') {
      // Not instanceof: socket errors come from Node's own realm, which may not be ours.
      const cause = isError(error.cause) ? error.cause : error;
      return new EnqueueFailedError(taskName, queue, 'connection', cause, error.message);
    }
    const reason = /^OOM\b/.test(error.message)
      ? 'out-of-memory'
      : error.name === 'ReplyError'
        ? 'refused'
        : 'connection';
    return new EnqueueFailedError(taskName, queue, reason, error);
  }
}

function explain(reason: EnqueueFailedError['reason'], detail: string): string {
  switch (reason) {
    case 'out-of-memory':
      return (
        'Redis is out of memory (maxmemory reached with a noeviction policy); nothing was ' +
        'added. Free memory or raise maxmemory, then retry.'
      );
    case 'refused':
      return `Redis refused the write (${detail}); nothing was added.`;
    case 'connection':
      return (
        `Redis did not answer (${detail}); the job may or may not have been ` +
        'added. Retry with the same jobId or idempotencyKey, or enqueue through the outbox.'
      );
  }
}

function isError(value: unknown): value is Error {
  return typeof (value as Error | undefined)?.message === 'string';
}

function firstLine(message: string): string {
  // Redis error text never carries credentials, but keep it to one short line.
  return message.split('\n')[0].slice(0, 200);
}
