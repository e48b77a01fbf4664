/** A Redis call of the relay that got no answer within its bound. */
export class RedisTimeoutError extends Error {
  override readonly name = 'RedisTimeoutError';

  constructor(what: string, ms: number) {
    super(`Redis did not answer ${what} within ${ms} ms`);
  }
}

/**
 * Runs `call` and waits for it until `deadline` (epoch ms) at most; past it, rejects with
 * `RedisTimeoutError` (the call itself is not cancelled: ioredis answers or fails it later,
 * and a job it adds late is the job the retry would add, by its id). With no time left, the
 * call is not made at all.
 */
export function beforeDeadline<T>(
  call: () => Promise<T>,
  deadline: number,
  what: string,
): Promise<T> {
  const ms = Math.max(0, Math.ceil(deadline - Date.now()));
  if (ms === 0) return Promise.reject(new RedisTimeoutError(what, 0));
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new RedisTimeoutError(what, ms)), ms);
    call().then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error as Error);
      },
    );
  });
}

/**
 * The relay's wait after `failures` failed rounds in a row: `retryDelayMs` doubled per
 * failure up to `maxBackoffMs`, then "equal jitter" (between half and all of it), so relays
 * that failed together do not all come back in the same millisecond, and the wait never
 * passes `maxBackoffMs`.
 */
export function relayBackoffMs(
  failures: number,
  retryDelayMs: number,
  maxBackoffMs: number,
  random: () => number = Math.random,
): number {
  const exponent = Math.min(Math.max(failures, 1) - 1, 30);
  const capped = Math.min(retryDelayMs * 2 ** exponent, maxBackoffMs);
  return Math.round(capped / 2 + (capped / 2) * random());
}
