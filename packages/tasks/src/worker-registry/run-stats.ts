/** Runs finished per queue over the last minute, in buckets, for the registry's figures. */
export interface RecentRuns {
  finished: number;
  runMs: number;
  windowMs: number;
}

const BUCKET_MS = 10_000;
const BUCKETS = 6;

interface Bucket {
  start: number;
  finished: number;
  runMs: number;
}

/**
 * Counts finished runs and their run time per queue over a sliding minute (six 10 s buckets),
 * so that each heartbeat can say how fast this process works through each queue. A run costs
 * one `Date.now()` and two additions; nothing is read until a heartbeat asks.
 */
export class RunStats {
  private readonly queues = new Map<string, Bucket[]>();

  constructor(
    private readonly since: number,
    private readonly now: () => number = Date.now,
  ) {}

  record(queue: string, runMs: number): void {
    const now = this.now();
    let buckets = this.queues.get(queue);
    if (!buckets) this.queues.set(queue, (buckets = []));
    const start = now - (now % BUCKET_MS);
    let last = buckets[buckets.length - 1];
    if (!last || last.start !== start) {
      buckets.push((last = { start, finished: 0, runMs: 0 }));
      if (buckets.length > BUCKETS + 1) buckets.shift();
    }
    last.finished++;
    last.runMs += runMs;
  }

  /**
   * `queue`'s runs finished within about the last minute, and the time they cover: from the
   * start of the oldest bucket counted (or of this process, if later) to now.
   */
  recent(queue: string): RecentRuns {
    const now = this.now();
    const from = now - BUCKETS * BUCKET_MS;
    let finished = 0;
    let runMs = 0;
    let oldest = now - (now % BUCKET_MS);
    for (const bucket of this.queues.get(queue) ?? []) {
      if (bucket.start < from) continue;
      finished += bucket.finished;
      runMs += bucket.runMs;
      oldest = Math.min(oldest, bucket.start);
    }
    return {
      finished,
      runMs,
      windowMs: Math.max(1, now - Math.max(this.since, Math.min(oldest, from))),
    };
  }
}
