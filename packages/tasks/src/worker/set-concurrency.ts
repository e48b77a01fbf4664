import type { Worker } from 'bullmq';

/** The part of BullMQ's private main-loop queue this file uses (bullmq 6). */
interface MainLoopQueue {
  add(promise: Promise<unknown>): void;
}

/**
 * Sets a running worker's concurrency (BullMQ's `worker.concurrency` setter) and makes a raise
 * take effect now. BullMQ reads the value only when its main loop turns: a worker whose slots
 * are all busy waits for one of its jobs to finish first, so raising 1 → 2 while a long job
 * runs would start nothing until that job ends. An already-settled empty entry in the loop's
 * queue (what a fetch that found no job leaves) turns the loop once, and it then fetches up to
 * the new value. The queue is a private field of BullMQ's `Worker`: where a later version has
 * none, the raise still applies, when the next job finishes. A lower value needs nothing: a
 * finishing job fetches no successor while the worker is at or above its concurrency.
 */
export function setWorkerConcurrency(worker: Worker, concurrency: number): void {
  const raised = concurrency > worker.concurrency;
  worker.concurrency = concurrency;
  if (!raised) return;
  const loop = (worker as unknown as { mainLoopQueue?: MainLoopQueue | null }).mainLoopQueue;
  if (loop && typeof loop.add === 'function') loop.add(Promise.resolve(undefined));
}

/**
 * Sets a running worker's rate limit (BullMQ's `limiter`, which it sends with every fetch, so
 * the next fetch uses it; the window's counter is the queue's, shared by every worker).
 * Returns whether it changed.
 */
export function setWorkerRateLimit(
  worker: Worker,
  rate: { max: number; perMs: number } | undefined,
): boolean {
  const current = worker.opts.limiter;
  if (current?.max === rate?.max && current?.duration === rate?.perMs) return false;
  worker.opts.limiter = rate && { max: rate.max, duration: rate.perMs };
  return true;
}
