import { CONTENDERS, type ContenderName } from './contenders';
import { deletePrefix, padding, pump, uniquePrefix } from './util';

/**
 * One contender alone in its process, for a CPU profile of one hot path (boot and set-up are
 * in the profile too; compare functions, not totals). Prints the rate and CPU µs per job
 * after a warm-up of 1,000.
 *
 * - `WHAT=process` (default): one worker drains a pre-filled queue at concurrency `C`.
 * - `WHAT=enqueue`: the producer adds `N` jobs, `C` in flight, with a payload of `PAD` bytes.
 *
 *   WHO=conveyor N=20000 C=1 node --cpu-prof --cpu-prof-dir=/tmp/prof bench/profile.js
 *   WHAT=enqueue WHO=conveyor N=30000 C=64 node bench/profile.js
 */
async function main(): Promise<void> {
  const what = process.env.WHAT ?? 'process';
  const name = (process.env.WHO ?? 'conveyor') as ContenderName;
  const jobs = Number(process.env.N ?? 20_000);
  const concurrency = Number(process.env.C ?? (what === 'enqueue' ? 64 : 1));
  const pad = process.env.PAD ? padding(Number(process.env.PAD)) : undefined;
  const warmup = 1_000;
  if (
    !CONTENDERS[name] ||
    !(jobs > warmup) ||
    !(concurrency >= 1) ||
    !['process', 'enqueue'].includes(what)
  ) {
    throw new Error(
      `WHAT must be process or enqueue, WHO one of ${Object.keys(CONTENDERS).join(', ')}, ` +
        `N > ${warmup}, C >= 1`,
    );
  }
  const prefix = uniquePrefix();
  try {
    const measure = what === 'enqueue' ? enqueue : processing;
    const { seconds, cpu } = await measure(name, prefix, jobs, warmup, concurrency, pad);
    const measured = jobs - warmup;
    console.log(
      JSON.stringify({
        what,
        contender: name,
        concurrency,
        jobs: measured,
        jobsPerSecond: Math.round(measured / seconds),
        cpuMicrosecondsPerJob: Number(((cpu.user + cpu.system) / measured).toFixed(1)),
      }),
    );
  } finally {
    await deletePrefix(prefix);
  }
}

type Measure = (
  name: ContenderName,
  prefix: string,
  jobs: number,
  warmup: number,
  concurrency: number,
  pad: string | undefined,
) => Promise<{ seconds: number; cpu: NodeJS.CpuUsage }>;

const enqueue: Measure = async (name, prefix, jobs, warmup, concurrency, pad) => {
  const producer = await CONTENDERS[name]({ prefix });
  try {
    await pump(warmup, concurrency, (i) => producer.add({ i, pad }));
    const start = process.hrtime.bigint();
    const cpu = process.cpuUsage();
    await pump(jobs - warmup, concurrency, (i) => producer.add({ i: warmup + i, pad }));
    return {
      cpu: process.cpuUsage(cpu),
      seconds: Number(process.hrtime.bigint() - start) / 1e9,
    };
  } finally {
    await producer.close();
  }
};

const processing: Measure = async (name, prefix, jobs, warmup, concurrency) => {
  const producer = await CONTENDERS[name]({ prefix });
  for (let done = 0; done < jobs; done += 500) {
    const n = Math.min(500, jobs - done);
    await producer.addBulk(Array.from({ length: n }, (_, i) => ({ i: done + i })));
  }
  await producer.close();

  let seen = 0;
  let start = 0n;
  let cpu = process.cpuUsage();
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const worker = await CONTENDERS[name]({
    prefix,
    worker: {
      concurrency,
      handler: () => {
        if (++seen === warmup) {
          start = process.hrtime.bigint();
          cpu = process.cpuUsage();
        }
        if (seen === jobs) finish();
      },
    },
  });
  try {
    await finished;
    return {
      cpu: process.cpuUsage(cpu),
      seconds: Number(process.hrtime.bigint() - start) / 1e9,
    };
  } finally {
    await worker.close();
  }
};

void main();
