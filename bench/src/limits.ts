import 'reflect-metadata';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Injectable, Module, type INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import {
  CircuitBreakers,
  defineTask,
  Task,
  TaskControl,
  type TaskContext,
  type TaskOptions,
  TaskProducer,
  TasksModule,
} from '@conveyor/tasks';
import { median, percentile, sleep } from './util';
import { commands, PrivateServer } from './private-server';

/**
 * Run limits at a backlog: Redis commands per completed job (INFO stats of a private
 * redis-server: exact, whatever the machine's load), drain time, a hot key's drain against
 * serial, and how soon a parked job starts after its slot is released. Conveyor's task-level
 * limits beside raw BullMQ's nearest equivalent, in the same run.
 *
 *   npm run bench:limits                      # backlogs of 1k and 10k, 3 rounds
 *   npm run bench:limits -- --full            # 1k, 10k and 100k
 *   npm run bench:limits -- --only=rate,hot   # some scenarios
 *
 * COMMAND_STATS=1 prints each side's commands per job by name; MONITOR_FILE=<path> records
 * every command the private server runs (scripts' included), to see where they come from.
 */

const QUEUE = 'limits';
const CONCURRENCY = 10;

interface Scenario {
  name: string;
  /** Conveyor's task options for the limit. */
  conveyor: TaskOptions<{ n: number; key: string }>;
  /** Raw BullMQ's nearest equivalent: a worker limiter, a global concurrency, or nothing. */
  raw: { limiter?: { max: number; duration: number }; globalConcurrency?: number; note: string };
  keys?: number;
  /** Handler time per job (ms); 0: none. */
  workMs?: number;
  /** Worker concurrency. @default CONCURRENCY */
  concurrency?: number;
  /** A fixed job count instead of the backlog sizes. */
  jobs?: number;
  /**
   * The backlog is enqueued while held, then let go once every job waits: Conveyor's task
   * paused (`pauseTask`) or breaker opened by hand, every job parked at the gate; raw BullMQ's
   * queue paused.
   */
  hold?: 'pauseTask' | 'breaker';
}

const BREAKER = { name: 'bench', failureThreshold: 1_000, window: '1m', cooldown: '1m' };

const SCENARIOS: Scenario[] = [
  {
    // A closed breaker must cost a run nothing: against a plain BullMQ worker.
    name: 'breakerClosed',
    conveyor: { circuitBreaker: BREAKER },
    raw: { note: 'plain worker' },
  },
  {
    name: 'pausedTask',
    conveyor: {},
    raw: { note: 'queue paused, then resumed' },
    hold: 'pauseTask',
  },
  {
    name: 'breakerOpen',
    conveyor: { circuitBreaker: BREAKER },
    raw: { note: 'queue paused, then resumed' },
    hold: 'breaker',
  },
  {
    // Two payload fields indexed by the producer for the dashboard's search: what an enqueue
    // adds, against a plain worker.
    name: 'searchable',
    conveyor: { searchable: ['n', 'key'] },
    raw: { note: 'plain worker' },
    keys: 50,
  },
  {
    name: 'rate',
    conveyor: { rateLimit: { max: 200, per: '100ms' } },
    raw: { limiter: { max: 200, duration: 100 }, note: 'worker limiter 200/100ms' },
  },
  {
    name: 'maxConcurrent',
    conveyor: { maxConcurrent: 3 },
    raw: { globalConcurrency: 3, note: 'queue global concurrency 3' },
  },
  {
    name: 'singleton',
    conveyor: { singleton: true },
    raw: { globalConcurrency: 1, note: 'queue global concurrency 1' },
  },
  {
    name: 'perKey',
    conveyor: { concurrencyKey: (p) => p.key, maxConcurrent: 1 },
    raw: { note: 'no per-key limit in BullMQ: plain worker' },
    keys: 50,
  },
  {
    // The measurement: 2,000 jobs of 5 ms, 50 tenants, half on one, one run per
    // tenant at a time, worker concurrency 20. The hot tenant's 1,000 jobs need 5 s in a row.
    name: 'hotKey',
    conveyor: { concurrencyKey: (p) => p.key, maxConcurrent: 1 },
    raw: { note: 'no per-key limit in BullMQ: plain worker' },
    keys: 50,
    workMs: 5,
    concurrency: 20,
    jobs: 2_000,
  },
];

/**
 * Where the commands went, per job, since the last RESETSTAT (commands run by scripts
 * included): `COMMAND_STATS=1 npm run bench:limits -- --only=…`.
 */
async function printCommandStats(admin: Redis, who: string, count: number): Promise<void> {
  const stats = (await admin.info('commandstats'))
    .split('\n')
    .filter((l) => l.startsWith('cmdstat_'))
    .map((line) => /^cmdstat_([^:]+):calls=(\d+)/.exec(line)!)
    .map(([, name, calls]) => `${name} ${(Number(calls) / count).toFixed(2)}`);
  process.stderr.write(`${who}: ${stats.join(', ')}\n`);
}

interface Measured {
  perJob: number;
  seconds: number;
  /** Scenario extras: per-key drain of the hot key, handoff latency. */
  extra: Record<string, number>;
}

function payloads(scenario: Scenario, count: number): Array<{ n: number; key: string }> {
  const keys = scenario.keys ?? 1;
  // Per key: half the jobs on one hot key, the rest spread over the others.
  return Array.from({ length: count }, (_, n) => ({
    n,
    key: keys === 1 || n % 2 === 0 ? 'hot' : `k${n % (keys - 1)}`,
  }));
}

async function runRaw(server: PrivateServer, scenario: Scenario, count: number): Promise<Measured> {
  const admin = new Redis(server.url);
  await admin.flushall();
  const connection = new Redis(server.url, { maxRetriesPerRequest: null });
  const queue = new Queue(QUEUE, { connection, prefix: '{raw}' });
  if (scenario.raw.globalConcurrency)
    await queue.setGlobalConcurrency(scenario.raw.globalConcurrency);
  await admin.config('RESETSTAT');
  const before = await commands(admin);
  const started = performance.now();
  if (scenario.hold) await queue.pause();
  const jobs = payloads(scenario, count).map((data) => ({
    name: 'bench.limited',
    data,
    opts: { removeOnComplete: { age: 86_400 }, removeOnFail: false },
  }));
  for (let i = 0; i < jobs.length; i += 1_000) await queue.addBulk(jobs.slice(i, i + 1_000));
  if (scenario.hold) await queue.resume();
  let done = 0;
  let finish!: () => void;
  const drained = new Promise<void>((resolve) => (finish = resolve));
  const worker = new Worker(
    QUEUE,
    async () => {
      if (scenario.workMs) await sleep(scenario.workMs);
      if (++done === count) finish();
    },
    {
      connection: new Redis(server.url, { maxRetriesPerRequest: null }),
      prefix: '{raw}',
      concurrency: scenario.concurrency ?? CONCURRENCY,
      limiter: scenario.raw.limiter,
    },
  );
  await drained;
  const seconds = (performance.now() - started) / 1000;
  await worker.close();
  const after = await commands(admin);
  if (process.env.COMMAND_STATS) await printCommandStats(admin, 'raw', count);
  await queue.close();
  (worker.opts.connection as Redis).disconnect();
  connection.disconnect();
  admin.disconnect();
  return { perJob: (after - before - 1) / count, seconds, extra: {} };
}

/** Raw BullMQ running `count` jobs of `workMs` one after another: a key's serial time. */
async function rawSerialSeconds(
  server: PrivateServer,
  count: number,
  workMs: number,
): Promise<number> {
  const scenario: Scenario = {
    name: 'serial',
    conveyor: {},
    raw: { note: '' },
    workMs,
    concurrency: 1,
  };
  return (await runRaw(server, scenario, count)).seconds;
}

async function runConveyor(
  server: PrivateServer,
  scenario: Scenario,
  count: number,
): Promise<Measured> {
  const admin = new Redis(server.url);
  await admin.flushall();
  const ref = defineTask<{ n: number; key: string }, void>('bench.limited', {
    queue: QUEUE,
    ...scenario.conveyor,
  });
  let done = 0;
  let finish!: () => void;
  const drained = new Promise<void>((resolve) => (finish = resolve));
  const hotEnds: number[] = [];
  const coldEnds: number[] = [];
  const handoffs: number[] = [];
  let lastEnd: number | undefined;

  @Injectable()
  class Handlers {
    @Task(ref)
    async run(payload: { n: number; key: string }, ctx: TaskContext): Promise<void> {
      if (scenario.name === 'singleton' && lastEnd !== undefined && ctx.admittedAt) {
        handoffs.push(ctx.admittedAt.getTime() - lastEnd);
      }
      if (scenario.workMs) await sleep(scenario.workMs);
      const end = Date.now();
      lastEnd = end;
      if (scenario.keys) (payload.key === 'hot' ? hotEnds : coldEnds).push(end);
      if (++done === count) finish();
    }
  }

  @Module({
    imports: [
      TasksModule.forRoot({
        connection: server.url,
        prefix: 'bench',
        queues: { [QUEUE]: { concurrency: scenario.concurrency ?? CONCURRENCY } },
        workers: 'all',
      }),
    ],
    providers: [Handlers],
  })
  class BenchModule {}

  const app: INestApplicationContext = await NestFactory.createApplicationContext(BenchModule, {
    logger: ['error'],
  });
  await app.init();
  const producer = app.get(TaskProducer);
  const control = app.get(TaskControl);
  const breakers = app.get(CircuitBreakers);
  await admin.config('RESETSTAT');
  const before = await commands(admin);
  const started = performance.now();
  const startedAt = Date.now();
  if (scenario.hold === 'pauseTask') await control.pauseTask(ref);
  if (scenario.hold === 'breaker') await breakers.open(BREAKER.name);
  // The worker hears of the hold before the jobs come (the first read of each is not timed).
  if (scenario.hold) await sleep(200);
  const all = payloads(scenario, count);
  for (let i = 0; i < all.length; i += 1_000)
    await producer.enqueueMany(ref, all.slice(i, i + 1_000));
  if (scenario.hold) {
    // Every job is parked at the gate (none ran), then the gate opens.
    while ((await admin.zcard(`{bench}:${QUEUE}:delayed`)) < count) await sleep(50);
    if (done !== 0) throw new Error(`${done} jobs ran while held`);
    if (scenario.hold === 'pauseTask') await control.resumeTask(ref);
    else await breakers.close(BREAKER.name);
  }
  const progress = process.env.PROGRESS
    ? setInterval(async () => {
        const q = `{bench}:${QUEUE}:`;
        const [wait, delayed, active] = await Promise.all([
          admin.llen(`${q}wait`),
          admin.zcard(`${q}delayed`),
          admin.llen(`${q}active`),
        ]);
        const leases = await admin.zrange(`${q}cv:lease:t:bench.limited`, 0, -1);
        process.stderr.write(
          `done=${done} wait=${wait} delayed=${delayed} active=${active} leases=${leases.join(',')}\n`,
        );
      }, 1000)
    : undefined;
  await drained;
  clearInterval(progress);
  const seconds = (performance.now() - started) / 1000;
  const after = await commands(admin);
  if (process.env.COMMAND_STATS) await printCommandStats(admin, 'conveyor', count);
  await app.close();
  admin.disconnect();
  const extra: Record<string, number> = {};
  if (handoffs.length)
    extra.handoffP50Ms = percentile(
      [...handoffs].sort((a, b) => a - b),
      0.5,
    );
  if (hotEnds.length) {
    // The hot key's jobs one after another, at the handler's own pace, would take about as
    // long as its share of the raw drain; the ratio shows what the parking costs it.
    extra.hotDrainSeconds = (Math.max(...hotEnds) - startedAt) / 1000;
    extra.coldDrainSeconds = (Math.max(...coldEnds) - startedAt) / 1000;
    extra.hotJobs = hotEnds.length;
  }
  return { perJob: (after - before - 1) / count, seconds, extra };
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const full = args.includes('--full');
  const only = args
    .find((a) => a.startsWith('--only='))
    ?.slice('--only='.length)
    .split(',');
  const backlogs = full ? [1_000, 10_000, 100_000] : [1_000, 10_000];
  const rounds = Number(args.find((a) => a.startsWith('--rounds='))?.slice(9) ?? 3);
  const server = await PrivateServer.start();
  const rows: Array<Record<string, string | number>> = [];
  try {
    for (const scenario of SCENARIOS.filter((s) => !only || only.includes(s.name))) {
      for (const count of scenario.jobs ? [scenario.jobs] : backlogs) {
        const n = count >= 100_000 ? 1 : rounds;
        const raw: Measured[] = [];
        const ours: Measured[] = [];
        for (let round = 0; round < n; round++) {
          raw.push(await runRaw(server, scenario, count));
          ours.push(await runConveyor(server, scenario, count));
        }
        const row: Record<string, string | number> = {
          scenario: scenario.name,
          backlog: count,
          rounds: n,
          rawCommandsPerJob: round2(median(raw.map((m) => m.perJob))),
          conveyorCommandsPerJob: round2(median(ours.map((m) => m.perJob))),
          commandsRatio: round2(
            median(ours.map((m) => m.perJob)) / median(raw.map((m) => m.perJob)),
          ),
          rawSeconds: round2(median(raw.map((m) => m.seconds))),
          conveyorSeconds: round2(median(ours.map((m) => m.seconds))),
          raw: scenario.raw.note,
        };
        for (const key of Object.keys(ours[0].extra)) {
          row[key] = round2(median(ours.map((m) => m.extra[key])));
        }
        if (scenario.workMs && scenario.keys) {
          const serial = await rawSerialSeconds(server, Number(row.hotJobs), scenario.workMs);
          row.hotSerialSeconds = round2(serial);
          row.hotVsSerial = round2(Number(row.hotDrainSeconds) / serial);
        }
        rows.push(row);
        process.stderr.write(`${JSON.stringify(row)}\n`);
      }
    }
  } finally {
    server.stop();
  }
  const out = path.join(__dirname, '..', 'results');
  mkdirSync(out, { recursive: true });
  writeFileSync(path.join(out, 'limits-latest.json'), `${JSON.stringify(rows, null, 2)}\n`);
  console.table(rows);
  process.exit(0);
}

function round2(value: number): number {
  return Math.round(value * 100) / 100;
}

void main();
