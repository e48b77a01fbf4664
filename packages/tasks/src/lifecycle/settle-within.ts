/**
 * How long a close gets once it has to be forced (BullMQ's `close(true)`, a disconnect), and
 * how long a courtesy step of shutdown (QUIT, a hand-back) may take before it is forced.
 */
export const CLOSE_GRACE_MS = 1_000;

/** How a bounded wait ended: on its own, after `force`, or left behind still pending. */
export type Settlement = 'settled' | 'forced' | 'abandoned';

/**
 * Awaits `work` (a close, a hand-back) for at most `ms`. If it is still pending then, calls
 * `force`, which should make it end (`worker.close(true)`, a disconnect), and waits `graceMs`
 * more before leaving it behind. Never rejects: a close that failed has ended all the same,
 * and the rest of shutdown must go on; the answer says how it ended, for the caller's log.
 * BullMQ's `close()` and ioredis's `quit()` wait without limit for a Redis that is down:
 * every close Conveyor makes goes through here.
 *
 * @example
 * await settleWithin(worker.close(), shutdownTimeoutMs, () => worker.disconnect());
 */
export async function settleWithin(
  work: PromiseLike<unknown>,
  ms: number,
  force?: () => unknown,
  graceMs = CLOSE_GRACE_MS,
): Promise<Settlement> {
  const ended = Promise.resolve(work).then(
    () => true,
    () => true,
  );
  if (await endsWithin(ended, ms)) return 'settled';
  if (!force) return 'abandoned';
  try {
    // Not awaited beyond the grace: a force that hangs as well must not hold shutdown.
    Promise.resolve(force()).catch(() => undefined);
  } catch {
    // A force that throws has done what it could; the grace below decides.
  }
  return (await endsWithin(ended, graceMs)) ? 'forced' : 'abandoned';
}

function endsWithin(ended: Promise<boolean>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  return Promise.race([ended, late]).finally(() => clearTimeout(timer));
}

/**
 * Waits for a worker's `close()` while runs may still be in flight, for at most `deadlineMs`.
 * Once nothing is in flight (`whenIdle`), the close gets only `CLOSE_GRACE_MS` more: BullMQ's
 * close of an idle worker can wait on its blocking connection for nothing after a Redis
 * restart (taskforcesh/bullmq#4656). `'settled'`: the close ended, or the worker went idle
 * and its grace passed (the caller then ends the close); `'abandoned'`: the deadline passed
 * with runs still in flight.
 */
export function closeOrIdle(
  closed: PromiseLike<unknown>,
  whenIdle: () => Promise<void>,
  deadlineMs: number,
): Promise<Settlement> {
  const idle = whenIdle().then(() => settleWithin(closed, CLOSE_GRACE_MS));
  return settleWithin(Promise.race([closed, idle]), deadlineMs);
}
