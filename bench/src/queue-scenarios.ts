import { fork } from 'node:child_process';
import path from 'node:path';
import {
  type BenchPayload,
  CONTENDER_NAMES,
  CONTENDERS,
  type ContenderName,
  type Side,
} from './contenders';
import type { Settings } from './settings';
import {
  collectGarbage,
  deferred,
  deletePrefix,
  median,
  now,
  padding,
  percentile,
  pump,
  sleep,
  summarize,
  type Summary,
  uniquePrefix,
  within,
} from './util';

/** One line of the report: a measure per contender, each the summary of its rounds. */
export interface ScenarioResult {
  group: string;
  scenario: string;
  unit: string;
  higherIsBetter: boolean;
  /** The contender ratios are taken against (measured in the same run). */
  baseline?: string;
  contenders: Record<string, Summary>;
}

type Measure = (name: ContenderName, round: number) => Promise<Record<string, number>>;

/**
 * Runs `measure` for every contender, round after round, rotating the order each round so
 * that no contender always runs first (or last) on a warming or cooling machine.
 */
async function alternate(
  settings: Settings,
  label: string,
  measure: Measure,
): Promise<Record<string, Record<ContenderName, number[]>>> {
  const out: Record<string, Record<ContenderName, number[]>> = {};
  for (let round = 0; round < settings.rounds; round++) {
    const order = CONTENDER_NAMES.map(
      (_, i) => CONTENDER_NAMES[(i + round) % CONTENDER_NAMES.length],
    );
    for (const name of order) {
      collectGarbage();
      const values = await measure(name, round);
      for (const [key, value] of Object.entries(values)) {
        out[key] ??= { raw: [], 'nestjs-bullmq': [], conveyor: [] };
        out[key][name].push(value);
      }
    }
    process.stderr.write(`  ${label}: round ${round + 1}/${settings.rounds} done\n`);
  }
  return out;
}

function results(
  group: string,
  unit: string,
  higherIsBetter: boolean,
  measured: Record<string, Record<ContenderName, number[]>>,
): ScenarioResult[] {
  return Object.entries(measured).map(([scenario, byContender]) => ({
    group,
    scenario,
    unit,
    higherIsBetter,
    baseline: 'raw',
    contenders: Object.fromEntries(
      Object.entries(byContender).map(([name, values]) => [name, summarize(values)]),
    ),
  }));
}

/** Boots a producer-only side on a fresh prefix, runs `fn`, closes it and deletes the keys. */
async function withProducer<T>(name: ContenderName, fn: (side: Side) => Promise<T>): Promise<T> {
  const prefix = uniquePrefix();
  const side = await CONTENDERS[name]({ prefix });
  try {
    return await fn(side);
  } finally {
    await side.close();
    await deletePrefix(prefix);
  }
}

/** Items per second over the measured part only: warm-up is excluded from count and time. */
async function rate(
  warmup: number,
  measured: number,
  run: (count: number, offset: number) => Promise<void>,
): Promise<number> {
  collectGarbage();
  await run(warmup, 0);
  const start = now();
  await run(measured, warmup);
  return measured / ((now() - start) / 1000);
}

export async function enqueueScenarios(settings: Settings): Promise<ScenarioResult[]> {
  const { enqueueSerial: serial, enqueueInFlight: inFlight, enqueueBulk: bulk } = settings;
  const measured = await alternate(settings, 'enqueue', (name) =>
    withProducer(name, async (side) => {
      const out: Record<string, number> = {};
      out['enqueue, serial awaits'] = await rate(serial.warmup, serial.measured, async (n, o) => {
        for (let i = 0; i < n; i++) await side.add({ i: o + i });
      });
      out[`enqueue, ${inFlight.inFlight} in flight`] = await rate(
        inFlight.warmup,
        inFlight.measured,
        (n, o) => pump(n, inFlight.inFlight, (i) => side.add({ i: o + i })),
      );
      const batch = (b: number) =>
        Array.from({ length: bulk.batch }, (_, i) => ({ i: b * bulk.batch + i }));
      out[`enqueue, bulk of ${bulk.batch}`] =
        (await rate(bulk.warmupBatches, bulk.measuredBatches, async (n, o) => {
          for (let b = 0; b < n; b++) await side.addBulk(batch(o + b));
        })) * bulk.batch;
      for (const size of settings.payload.sizes) {
        const pad = padding(size);
        out[`enqueue ${size / 1024} KiB payload, ${settings.payload.inFlight} in flight`] =
          await rate(settings.payload.warmup, settings.payload.measured, (n, o) =>
            pump(n, settings.payload.inFlight, (i) => side.add({ i: o + i, pad })),
          );
      }
      return out;
    }),
  );
  return results('enqueue', 'jobs/s', true, measured);
}

/** Fills a queue with `count` no-op jobs through the contender's own producer (bulk). */
async function prefill(name: ContenderName, prefix: string, count: number): Promise<void> {
  const side = await CONTENDERS[name]({ prefix });
  try {
    for (let done = 0; done < count; done += 500) {
      const n = Math.min(500, count - done);
      await side.addBulk(Array.from({ length: n }, (_, i) => ({ i: done + i })));
    }
  } finally {
    await side.close();
  }
}

export async function processingScenarios(settings: Settings): Promise<ScenarioResult[]> {
  const { warmup, measured: count, concurrencies } = settings.processing;
  const out: ScenarioResult[] = [];
  for (const concurrency of concurrencies) {
    const measured = await alternate(settings, `processing c=${concurrency}`, async (name) => {
      const prefix = uniquePrefix();
      try {
        await prefill(name, prefix, warmup + count);
        // Handler starts are counted; the clock runs from the last warm-up start to the last.
        let seen = 0;
        let start = 0;
        let cpu = process.cpuUsage();
        const done = deferred<number>();
        const side = await CONTENDERS[name]({
          prefix,
          worker: {
            concurrency,
            handler: () => {
              seen++;
              if (seen === warmup) {
                start = now();
                cpu = process.cpuUsage();
              } else if (seen === warmup + count) {
                cpu = process.cpuUsage(cpu);
                done.resolve(now() - start);
              }
            },
          },
        });
        try {
          const ms = await within(done.promise, 120_000, `${name} processing`);
          return {
            [`process no-op jobs, concurrency ${concurrency}`]: count / (ms / 1000),
            // Less sensitive to a busy machine than the rate: CPU time of this process only.
            [`worker CPU per job, concurrency ${concurrency}`]: (cpu.user + cpu.system) / count,
          };
        } finally {
          await side.close();
        }
      } finally {
        await deletePrefix(prefix);
      }
    });
    const [rateKey, cpuKey] = Object.keys(measured);
    out.push(...results('processing', 'jobs/s', true, { [rateKey]: measured[rateKey] }));
    out.push(...results('processing', 'µs/job', false, { [cpuKey]: measured[cpuKey] }));
  }
  return out;
}

/**
 * Open-loop producer at a fixed rate: each job is sent at its scheduled time (or as soon
 * after as the event loop allows) and latency runs from the scheduled time, so a slow
 * consumer cannot hide its delay by slowing the producer down (no coordinated omission).
 * Latencies go into a sorted array (exact percentiles; at most rate × seconds samples).
 */
export async function latencyScenarios(settings: Settings): Promise<ScenarioResult[]> {
  const { rate: perSecond, warmupSeconds, seconds, concurrency } = settings.latency;
  const warmupJobs = Math.round(perSecond * warmupSeconds);
  const total = warmupJobs + Math.round(perSecond * seconds);
  const measured = await alternate(settings, 'latency', async (name) => {
    const prefix = uniquePrefix();
    const samples: number[] = [];
    let seen = 0;
    const done = deferred();
    const side = await CONTENDERS[name]({
      prefix,
      worker: {
        concurrency,
        handler: (data: BenchPayload) => {
          if (data.i >= warmupJobs) samples.push(now() - data.t!);
          if (++seen === total) done.resolve();
        },
      },
    });
    try {
      await sleep(200); // let the worker reach its blocking wait
      const start = now();
      let sent = 0;
      while (sent < total) {
        const due = Math.min(total, Math.floor(((now() - start) * perSecond) / 1000));
        for (; sent < due; sent++) {
          const t = start + (sent * 1000) / perSecond;
          side.add({ i: sent, t }).catch(done.reject);
        }
        await sleep(1);
      }
      await within(done.promise, 60_000, `${name} latency`);
      samples.sort((a, b) => a - b);
      return {
        [`enqueue → handler start p50 @${perSecond}/s`]: percentile(samples, 50),
        [`enqueue → handler start p99 @${perSecond}/s`]: percentile(samples, 99),
        [`enqueue → handler start p99.9 @${perSecond}/s`]: percentile(samples, 99.9),
      };
    } finally {
      await side.close();
      await deletePrefix(prefix);
    }
  });
  return results('latency', 'ms', false, measured);
}

/**
 * Worker RSS before and after N jobs, each contender in a child process of its own so that
 * one's heap does not count against another's. RSS is read after a forced GC, once after a
 * warm-up of 1,000 jobs and once after all of them.
 */
export async function rssScenarios(settings: Settings): Promise<ScenarioResult[]> {
  const { jobs, concurrency } = settings.rss;
  const measured: Record<string, Record<ContenderName, number[]>> = {};
  for (const name of CONTENDER_NAMES) {
    const prefix = uniquePrefix();
    try {
      await prefill(name, prefix, jobs);
      const report = await runChild([
        '--rss-child',
        name,
        prefix,
        String(jobs),
        String(concurrency),
      ]);
      for (const [key, value] of Object.entries(report)) {
        measured[key] ??= { raw: [], 'nestjs-bullmq': [], conveyor: [] };
        measured[key][name].push(value);
      }
    } finally {
      await deletePrefix(prefix);
    }
    process.stderr.write(`  rss: ${name} done\n`);
  }
  const [before, after, growth, heapGrowth] = Object.keys(measured);
  return [
    ...results('memory', 'MiB', false, { [before]: measured[before], [after]: measured[after] }),
    ...results('memory', '%', false, {
      [growth]: measured[growth],
      [heapGrowth]: measured[heapGrowth],
    }),
  ];
}

function runChild(args: string[]): Promise<Record<string, number>> {
  return new Promise((resolve, reject) => {
    const child = fork(path.join(__dirname, '..', 'run.js'), args, {
      execArgv: ['--expose-gc'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let report: Record<string, number> | undefined;
    child.on('message', (message) => (report = message as Record<string, number>));
    child.on('error', reject);
    child.on('exit', (code) =>
      report ? resolve(report) : reject(new Error(`rss child exited with ${code}`)),
    );
  });
}

/**
 * The child side of `rssScenarios`: one worker drains the pre-filled queue while memory is
 * read (after a forced GC) every 2% of the jobs. One reading is not enough: in a single run
 * of raw BullMQ over 200k jobs, RSS read 148, 185, 154, 154 and 153 MiB at 0.5%, 25%, 50%,
 * 75% and 100%, as V8 and the allocator give pages back to the OS when they choose. Growth is
 * the median of the readings in the last tenth over the median of those in the first tenth.
 */
export async function rssChild(
  name: ContenderName,
  prefix: string,
  jobs: number,
  concurrency: number,
): Promise<void> {
  const step = Math.max(1, Math.floor(jobs / 50));
  const readings: { at: number; rss: number; heap: number }[] = [];
  const done = deferred();
  let seen = 0;
  const side = await CONTENDERS[name]({
    prefix,
    worker: {
      concurrency,
      handler: () => {
        seen++;
        // In the handler, so the reading lands at its count; a GC there stalls the worker,
        // which is the measuring child's business alone.
        if (seen % step === 0) readings.push({ at: seen / jobs, ...memory() });
        if (seen === jobs) done.resolve();
      },
    },
  });
  await within(done.promise, 600_000, `${name} rss`);
  await side.close();
  const first = readings.filter((r) => r.at <= 0.1);
  const last = readings.filter((r) => r.at > 0.9);
  const rssBefore = median(first.map((r) => r.rss));
  const rssAfter = median(last.map((r) => r.rss));
  const heapBefore = median(first.map((r) => r.heap));
  const heapAfter = median(last.map((r) => r.heap));
  const n = `${jobs / 1000}k`;
  process.send!({
    [`worker RSS over the first tenth of ${n} jobs`]: rssBefore,
    [`worker RSS over the last tenth of ${n} jobs`]: rssAfter,
    [`worker RSS growth over ${n} jobs`]: (rssAfter / rssBefore - 1) * 100,
    // Live heap after GC: growth here (not only in RSS) would mean objects kept per job.
    [`worker heap growth over ${n} jobs`]: (heapAfter / heapBefore - 1) * 100,
  });
}

/** RSS and live heap in MiB, after a full GC. */
function memory(): { rss: number; heap: number } {
  (globalThis as { gc?: () => void }).gc?.();
  const { rss, heapUsed } = process.memoryUsage();
  return { rss: rss / 2 ** 20, heap: heapUsed / 2 ** 20 };
}
