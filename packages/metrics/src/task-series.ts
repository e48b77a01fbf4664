import { Counter, Histogram } from 'prom-client';

export const TASK_LABELS = ['task', 'queue'] as const;
export type TaskLabel = (typeof TASK_LABELS)[number];
export type TaskLabels = Record<TaskLabel, string>;

/** The per-run counts of a task, one counter each. */
export type TaskCount =
  'enqueued' | 'started' | 'succeeded' | 'failed' | 'retried' | 'deadLettered' | 'leaseLost';

/** The two duration histograms of a task. */
export type TaskDuration = 'run' | 'wait';

/** One histogram's state for one series: a count per bucket (the last one past every bound). */
export class Buckets {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(private readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    let i = 0;
    while (i < this.bounds.length && value > this.bounds[i]) i++;
    this.counts[i]++;
    this.sum += value;
    this.count++;
  }

  reset(): void {
    this.counts.fill(0);
    this.sum = 0;
    this.count = 0;
  }
}

/** What one (task, queue) pair has done, in plain numbers. */
export class TaskSeries {
  readonly counts: Record<TaskCount, number> = {
    enqueued: 0,
    started: 0,
    succeeded: 0,
    failed: 0,
    retried: 0,
    deadLettered: 0,
    leaseLost: 0,
  };
  readonly durations: Record<TaskDuration, Buckets>;

  constructor(
    readonly labels: Readonly<TaskLabels>,
    bounds: readonly number[],
  ) {
    this.durations = { run: new Buckets(bounds), wait: new Buckets(bounds) };
  }
}

/**
 * Every (task, queue) series of this process. Each job's start and end bump a few numbers
 * here, found by two `Map` lookups; prom-client's own `inc`/`observe` would validate and hash
 * the label object on every call (about 10% of a no-op job's worker CPU, measured in bench/).
 * The metrics below read these numbers at scrape time. Both labels come from the app's code,
 * so the table stays as small as its list of tasks.
 */
export class TaskSeriesTable implements Iterable<TaskSeries> {
  private readonly byTask = new Map<string, Map<string, TaskSeries>>();

  constructor(readonly bounds: readonly number[]) {}

  get(task: string, queue: string): TaskSeries {
    let byQueue = this.byTask.get(task);
    if (!byQueue) this.byTask.set(task, (byQueue = new Map()));
    let series = byQueue.get(queue);
    if (!series) byQueue.set(queue, (series = new TaskSeries({ task, queue }, this.bounds)));
    return series;
  }

  *[Symbol.iterator](): Iterator<TaskSeries> {
    for (const byQueue of this.byTask.values()) yield* byQueue.values();
  }
}

interface Described {
  name: string;
  help: string;
}

/**
 * A prom-client `Counter` whose values are the table's counts, read at scrape time. A label
 * set appears once it has counted something, as with `inc`. `reset()` zeroes the counts.
 */
export class SeriesCounter extends Counter<TaskLabel> {
  private table?: TaskSeriesTable;
  private count?: TaskCount;

  constructor(described: Described, table: TaskSeriesTable, count: TaskCount) {
    super({ ...described, labelNames: TASK_LABELS, registers: [] });
    this.table = table;
    this.count = count;
  }

  override async get(): ReturnType<Counter<TaskLabel>['get']> {
    Counter.prototype.reset.call(this);
    for (const series of this.table!) {
      const value = series.counts[this.count!];
      if (value > 0) this.inc(series.labels, value);
    }
    return super.get();
  }

  override reset(): void {
    super.reset();
    // Also runs from prom-client's constructor, before the table is set.
    if (this.table) for (const series of this.table) series.counts[this.count!] = 0;
  }
}

type HistogramValues = Awaited<ReturnType<Histogram<TaskLabel>['get']>>;

/** A line as prom-client's histograms hand it to the registry: series labels kept apart. */
interface RegistryLine {
  labels: { le?: number | string };
  sharedLabels: TaskLabels;
  value: number;
  metricName: string;
}

/** prom-client's own `getForPromString`, which reads its (here unused) store. */
const storedForPromString = (
  Histogram.prototype as unknown as {
    getForPromString(this: Histogram<TaskLabel>): Promise<HistogramValues>;
  }
).getForPromString;

/**
 * A prom-client `Histogram` whose buckets, sum and count are the table's, read at scrape
 * time and handed to the registry as prom-client's own histogram does (cumulative `le`
 * buckets, `+Inf`, `_sum`, `_count`; its `get()` turns them into the public shape). The spec
 * checks the exposition against a real prom-client `Histogram` fed the same values.
 * `reset()` zeroes them.
 */
export class SeriesHistogram extends Histogram<TaskLabel> {
  private table?: TaskSeriesTable;
  private duration?: TaskDuration;

  constructor(
    private readonly described: Described,
    table: TaskSeriesTable,
    duration: TaskDuration,
  ) {
    super({ ...described, labelNames: TASK_LABELS, buckets: [...table.bounds], registers: [] });
    this.table = table;
    this.duration = duration;
  }

  /** What the registry formats, and what `get()` builds on. */
  async getForPromString(): Promise<HistogramValues> {
    const metric = await storedForPromString.call(this); // name, help, type, aggregator
    const bucket = `${this.described.name}_bucket`;
    const lines: RegistryLine[] = [];
    for (const series of this.table!) {
      const buckets = series.durations[this.duration!];
      if (buckets.count === 0) continue;
      const sharedLabels = series.labels;
      let cumulative = 0;
      this.table!.bounds.forEach((le, i) => {
        cumulative += buckets.counts[i];
        lines.push({ labels: { le }, sharedLabels, value: cumulative, metricName: bucket });
      });
      lines.push(
        { labels: { le: '+Inf' }, sharedLabels, value: buckets.count, metricName: bucket },
        {
          labels: {},
          sharedLabels,
          value: buckets.sum,
          metricName: `${this.described.name}_sum`,
        },
        {
          labels: {},
          sharedLabels,
          value: buckets.count,
          metricName: `${this.described.name}_count`,
        },
      );
    }
    return { ...metric, values: lines as unknown as HistogramValues['values'] };
  }

  override reset(): void {
    super.reset();
    if (this.table) for (const series of this.table) series.durations[this.duration!].reset();
  }
}
