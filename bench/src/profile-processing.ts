import { CONTENDERS, type ContenderName } from './contenders';
import { deletePrefix, uniquePrefix } from './util';

async function main(): Promise<void> {
  const name = (process.env.WHO ?? 'conveyor') as ContenderName;
  const n = Number(process.env.N ?? 20000);
  const c = Number(process.env.C ?? 1);
  const prefix = uniquePrefix();
  const p = await CONTENDERS[name]({ prefix });
  for (let d = 0; d < n; d += 500)
    await p.addBulk(Array.from({ length: 500 }, (_, i) => ({ i: d + i })));
  await p.close();
  let seen = 0;
  const warm = 1000;
  let t0 = 0n;
  let cpu0 = process.cpuUsage();
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  const side = await CONTENDERS[name]({
    prefix,
    worker: {
      concurrency: c,
      handler: () => {
        if (++seen === warm) {
          t0 = process.hrtime.bigint();
          cpu0 = process.cpuUsage();
        }
        if (seen === n) done();
      },
    },
  });
  await finished;
  const cpu = process.cpuUsage(cpu0);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  console.log(
    JSON.stringify({
      name,
      c,
      n,
      rate: Math.round((n - warm) / (ms / 1000)),
      cpuUsPerJob: +((cpu.user + cpu.system) / (n - warm)).toFixed(1),
    }),
  );
  await side.close();
  await deletePrefix(prefix);
}
void main();
