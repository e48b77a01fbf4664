/**
 * A producer call that Redis did not answer: it ran past `enqueueTimeout`, or ioredis gave
 * up on it (`maxRetriesPerRequest`). Neither says why; `cause` is what the connection last
 * reported (ECONNREFUSED, NOAUTH, WRONGPASS, MOVED, …), and the message names it.
 * Internal: `EnqueueFailedError` carries it to callers.
 */
export class RedisUnavailable extends Error {
  override readonly name = 'RedisUnavailable';

  constructor(what: string, cause: Error | undefined) {
    super(cause ? `${what}; last connection error: ${firstLine(cause.message)}` : what, {
      cause,
    });
  }
}

function firstLine(message: string): string {
  return message.split('\n')[0].slice(0, 200);
}
