import type { WorkerInfo } from '@conveyor/tasks';

/** What the autoscaling gauges say about one queue at one scrape. */
export interface QueueScaling {
  /** Live worker processes consuming the queue (those shutting down left out). */
  workers: number;
  /** Jobs of the queue running now, across them. */
  running: number;
  /** Runs finished per second across them, over the last minute. */
  throughput: number;
  /** Estimated arrivals per second: throughput plus the backlog's growth. */
  arrivalRate: number;
  /** Average run time in seconds over the last minute; `undefined` when no run finished. */
  runSeconds: number | undefined;
  /** Jobs that should run at once to keep up and drain the backlog within the target. */
  desiredConcurrency: number;
  /** Worker processes needed for that, at the per-process concurrency. */
  desiredWorkers: number;
}

/** Backlog samples older than this are dropped: the growth is measured over about a minute. */
const GROWTH_WINDOW_MS = 60_000;

/**
 * The desired size of a queue's worker pool, from Little's law. With arrival rate `λ` (jobs/s),
 * average run time `W` (s), backlog `B` (jobs waiting) and drain target `T` (s):
 *
 *     concurrency = max(R, ceil(λ·W + B·W/T))      workers = ceil(concurrency / c)
 *
 * `λ·W` is how many jobs are in service on average when the pool keeps up (Little's law,
 * L = λW); `B·W/T` is the extra slots that drain the backlog within `T`; `R`, the jobs running
 * now, keeps a pool from being sized under the work it holds; `c` is the concurrency of one
 * process for the queue (its live workers' average, else the declared value).
 *
 * `λ` is estimated, as no process sees every enqueue: the throughput of the live workers over
 * the last minute (each one's heartbeat carries it) plus the backlog's growth over about the
 * same minute (`(B_now − B_then) / Δt`, from this process's own scrapes), never below 0.
 * With no run finished in the last minute, `W` is unknown: the desire holds the live count,
 * at least 1 while jobs wait or run, until there is a run time to go on.
 */
export class ScalingEstimator {
  private readonly backlog = new Map<string, Array<{ at: number; waiting: number }>>();

  constructor(
    private readonly drainTargetMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  estimate(
    queue: string,
    waiting: number,
    live: readonly WorkerInfo[],
    declaredConcurrency: number,
  ): QueueScaling {
    let workers = 0;
    let running = 0;
    let throughput = 0;
    let finished = 0;
    let runMs = 0;
    let slots = 0;
    for (const worker of live) {
      if (worker.stopping) continue;
      const q = worker.queues.find((entry) => entry.name === queue);
      if (!q) continue;
      workers++;
      running += q.running;
      slots += q.concurrency;
      finished += q.finished;
      runMs += q.finished * q.averageRunMs;
      if (q.windowMs > 0) throughput += q.finished / (q.windowMs / 1000);
    }
    const growth = this.growth(queue, waiting);
    const arrivalRate = Math.max(0, throughput + growth);
    const runSeconds = finished ? runMs / finished / 1000 : undefined;
    const perProcess = Math.max(1, workers ? slots / workers : declaredConcurrency);
    let desiredConcurrency: number;
    let desiredWorkers: number;
    if (runSeconds === undefined) {
      desiredWorkers = waiting > 0 || running > 0 ? Math.max(workers, 1) : workers;
      desiredConcurrency = Math.max(running, Math.ceil(desiredWorkers * perProcess));
    } else {
      const drainS = this.drainTargetMs / 1000;
      desiredConcurrency = Math.max(
        running,
        Math.ceil(round(arrivalRate * runSeconds + (waiting * runSeconds) / drainS)),
      );
      desiredWorkers = Math.ceil(round(desiredConcurrency / perProcess));
      if (waiting > 0) desiredWorkers = Math.max(desiredWorkers, 1);
    }
    return {
      workers,
      running,
      throughput,
      arrivalRate,
      runSeconds,
      desiredConcurrency,
      desiredWorkers,
    };
  }

  /** The backlog's growth in jobs/s over about the last minute of this process's samples. */
  private growth(queue: string, waiting: number): number {
    const now = this.now();
    let samples = this.backlog.get(queue);
    if (!samples) this.backlog.set(queue, (samples = []));
    while (samples.length > 1 && now - samples[1].at >= GROWTH_WINDOW_MS) samples.shift();
    samples.push({ at: now, waiting });
    const first = samples[0];
    const spanS = (now - first.at) / 1000;
    // Under a second apart, two scrapes say nothing about a rate.
    return spanS >= 1 ? (waiting - first.waiting) / spanS : 0;
  }
}

/** Rounds away float noise (0.1 + 0.2), so a ceil does not add a worker for nothing. */
function round(n: number): number {
  return Math.round(n * 1e6) / 1e6;
}
