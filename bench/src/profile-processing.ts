import { CONTENDERS, type ContenderName } from './contenders';
import { deletePrefix, uniquePrefix } from './util';

/**
 * One contender's worker draining a pre-filled queue, alone in its process, for a CPU
 * profile of the processing hot path (boot and prefill are in the profile too; compare
 * functions, not totals). Prints the rate and CPU µs per job after a warm-up of 1,000.
 *
 *   WHO=conveyor N=20000 C=1 node --cpu-prof --cpu-prof-dir=/tmp/prof bench/profile.js
 */
async function main(): Promise<void> {
  const name = (process.env.WHO ?? 'conveyor') as ContenderName;
  const jobs = Number(process.env.N ?? 20_000);
  const concurrency = Number(process.env.C ?? 1);
  const warmup = 1_000;
  if (!CONTENDERS[name] || !(jobs > warmup) || !(concurrency >= 1)) {
    throw new Error(
      `WHO must be one of ${Object.keys(CONTENDERS).join(', ')}, N > ${warmup}, C >= 1`,
    );
  }
  const prefix = uniquePrefix();
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
    const used = process.cpuUsage(cpu);
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    const measured = jobs - warmup;
    console.log(
      JSON.stringify({
        contender: name,
        concurrency,
        jobs: measured,
        jobsPerSecond: Math.round(measured / seconds),
        cpuMicrosecondsPerJob: Number(((used.user + used.system) / measured).toFixed(1)),
      }),
    );
  } finally {
    await worker.close();
    await deletePrefix(prefix);
  }
}

void main();
