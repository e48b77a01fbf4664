import { Counter, Histogram, Registry } from 'prom-client';
import { SeriesCounter, SeriesHistogram, TASK_LABELS, TaskSeriesTable } from './task-series';

const BOUNDS = [0.005, 0.05, 0.5, 5];
const SAMPLES = [0, 0.005, 0.0051, 0.2, 0.5, 4.9, 5, 7, 120];

/** The text exposition of one metric in a registry of its own. */
async function exposition(metric: Counter | Histogram): Promise<string> {
  const registry = new Registry();
  registry.registerMetric(metric);
  return registry.metrics();
}

describe('TaskSeriesTable metrics', () => {
  it('expose a histogram exactly as prom-client would for the same observations', async () => {
    const table = new TaskSeriesTable(BOUNDS);
    const reference = new Histogram({
      name: 'conveyor_task_run_duration_seconds',
      help: 'h',
      labelNames: TASK_LABELS,
      buckets: BOUNDS,
      registers: [],
    });
    for (const [i, value] of SAMPLES.entries()) {
      const queue = i % 2 ? 'email' : 'billing';
      table.get('email.send', queue).durations.run.observe(value);
      reference.observe({ task: 'email.send', queue }, value);
    }
    const ours = new SeriesHistogram(
      { name: 'conveyor_task_run_duration_seconds', help: 'h' },
      table,
      'run',
    );

    expect(await exposition(ours)).toBe(await exposition(reference));
    const lines = async (metric: Histogram) =>
      (await metric.get()).values.map(({ labels, value, metricName }) => ({
        labels,
        value,
        metricName,
      }));
    expect(await lines(ours)).toEqual(await lines(reference));
  });

  it('expose counters exactly as prom-client would, leaving out series that counted nothing', async () => {
    const table = new TaskSeriesTable(BOUNDS);
    const reference = new Counter({
      name: 'conveyor_tasks_started_total',
      help: 'c',
      labelNames: TASK_LABELS,
      registers: [],
    });
    table.get('a', 'q1').counts.started += 2;
    reference.inc({ task: 'a', queue: 'q1' }, 2);
    table.get('b', 'q2').counts.started += 1;
    reference.inc({ task: 'b', queue: 'q2' }, 1);
    table.get('c', 'q3').counts.enqueued += 5; // another count only: no started line for c

    const ours = new SeriesCounter(
      { name: 'conveyor_tasks_started_total', help: 'c' },
      table,
      'started',
    );

    expect(await exposition(ours)).toBe(await exposition(reference));
  });

  it('reads the numbers at scrape time, so each scrape sees what happened since', async () => {
    const table = new TaskSeriesTable(BOUNDS);
    const counter = new SeriesCounter({ name: 'c_total', help: 'c' }, table, 'succeeded');
    const values = async () => (await counter.get()).values.map((v) => v.value);

    table.get('t', 'q').counts.succeeded++;
    expect(await values()).toEqual([1]);
    table.get('t', 'q').counts.succeeded += 4;
    expect(await values()).toEqual([5]);
  });

  it("reset() zeroes only the metric's own numbers", async () => {
    const table = new TaskSeriesTable(BOUNDS);
    const started = new SeriesCounter({ name: 's_total', help: 's' }, table, 'started');
    const run = new SeriesHistogram({ name: 'r_seconds', help: 'r' }, table, 'run');
    const series = table.get('t', 'q');
    series.counts.started = 3;
    series.counts.failed = 2;
    series.durations.run.observe(1);
    series.durations.wait.observe(1);

    started.reset();
    run.reset();

    expect(series.counts).toMatchObject({ started: 0, failed: 2 });
    expect(series.durations.run.count).toBe(0);
    expect(series.durations.wait.count).toBe(1);
    expect((await started.get()).values).toEqual([]);
    expect((await run.get()).values).toEqual([]);
  });
});
