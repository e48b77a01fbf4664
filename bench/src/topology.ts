import 'reflect-metadata';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import path from 'node:path';
import { Injectable, Module, type INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Queue, Worker } from 'bullmq';
import { Cluster, Redis } from 'ioredis';
import {
  defineTask,
  Task,
  type TaskOptions,
  TaskProducer,
  type TaskRef,
  TasksModule,
  type TasksModuleOptions,
} from '@conveyor/tasks';
import { PrivateCluster } from '../../test/support/private-cluster';
import { PrivateRedis } from '../../test/support/private-redis';
import { median, sleep } from './util';

/**
 * The same workload on one Redis and on a Redis Cluster of three masters: Redis commands per
 * completed job, in all and on each master (INFO stats of private servers: exact, whatever
 * the machine's load), keys each master holds after the drain, and jobs/s. Raw BullMQ and
 * Conveyor side by side on each topology, in the same run.
 *
 *   npm run bench:cluster                          # 6,000 jobs, 3 rounds
 *   npm run bench:cluster -- --jobs=30000 --rounds=5
 *   COMMAND_STATS=1 npm run bench:cluster   # commands and server µs per job, by command
 *
 * Three queues (q1, q2, q3), jobs enqueued in batches of 1,000 taking turns over the queues,
 * no-op handlers, one worker process (this one) at concurrency 10 per queue. On the cluster
 * each queue has a hash tag of its own, chosen so the three fall on three masters: raw BullMQ
 * with a prefix per queue (`{raw-q1}`…), Conveyor with `hashTags: 'queue'`. On one Redis, raw
 * BullMQ uses `{raw}` and Conveyor its default `hashTags: 'prefix'`. Each contender runs
 * 1,500 jobs first, not counted (warm-up), then once per round, the order turned each round;
 * the figures are medians of the rounds.
 */

const QUEUES = ['q1', 'q2', 'q3'] as const;
type QueueName = (typeof QUEUES)[number];
const CONCURRENCY = 10;
const BATCH = 1_000;
const KEYS = 20;
const DRAIN_TIMEOUT_MS = 300_000;
const WARMUP = 1_500;

type Variant = 'plain' | 'perKey';
type Engine = 'raw' | 'conveyor';
interface Payload {
  n: number;
  key: string;
}

const VARIANT_OPTIONS: Record<Variant, TaskOptions<Payload>> = {
  plain: {},
  perKey: { concurrencyKey: (p) => p.key, maxConcurrent: 1 },
};

/** A master, with a connection of the bench's own (admin: stats, flush, counts). */
interface Master {
  port: number;
  admin: Redis;
}

interface Topology {
  name: 'one redis' | '3 masters';
  masters: Master[];
  conveyor: Pick<TasksModuleOptions, 'connection' | 'prefix' | 'hashTags'>;
  /** Raw BullMQ's prefix for each queue. */
  rawPrefix: Record<QueueName, string>;
  /** A connection for a raw BullMQ Queue or Worker. */
  rawConnection(): Redis | Cluster;
  /** The port of the master holding each hash tag, found before measuring. */
  portOf: Map<string, number>;
}

interface Contender {
  engine: Engine;
  topology: Topology;
}

interface Measured {
  /** Commands per job, over all masters. */
  perJob: number;
  /** Commands per job on each master, by port. */
  perMaster: Map<number, number>;
  /** Keys (DBSIZE) on each master right after the drain, by port. */
  keys: Map<number, number>;
  /** Client connections on each master right after the drain (the bench's own left out). */
  clients: Map<number, number>;
  seconds: number;
  /** CPU µs per job of this process (producer and worker), first enqueue to last handler. */
  nodeCpuUs: number;
  /** CPU µs per job of the Redis servers, over all masters. */
  redisCpuUs: number;
}

/**
 * Counts each master's commands from `start()` to `stop()`: `CONFIG RESETSTAT`, then
 * `total_commands_processed` before and after. Each INFO adds one command to the next one's
 * figure, and the bench's own polls of the completed sets are counted and taken off, so what
 * is left is the contender's alone. Reads each master's CPU time (`used_cpu_user` + `_sys`)
 * with the same INFO.
 */
class CommandCount {
  private readonly before = new Map<number, ServerStats>();
  private readonly polls = new Map<number, number>();

  constructor(private readonly masters: Master[]) {}

  async start(): Promise<void> {
    await Promise.all(this.masters.map(({ admin }) => admin.config('RESETSTAT')));
    for (const { port, admin } of this.masters) {
      this.before.set(port, await serverStats(admin));
      this.polls.set(port, 0);
    }
  }

  /** A command of the bench's own on a master during the count. */
  polled(port: number): void {
    this.polls.set(port, this.polls.get(port)! + 1);
  }

  /** Commands and CPU seconds of each master since `start()`, by port. */
  async stop(): Promise<Map<number, ServerStats>> {
    const counts = new Map<number, ServerStats>();
    for (const { port, admin } of this.masters) {
      const after = await serverStats(admin);
      const before = this.before.get(port)!;
      counts.set(port, {
        commands: after.commands - before.commands - 1 - this.polls.get(port)!,
        cpuSeconds: after.cpuSeconds - before.cpuSeconds,
      });
    }
    return counts;
  }
}

interface ServerStats {
  commands: number;
  cpuSeconds: number;
}

async function serverStats(admin: Redis): Promise<ServerStats> {
  const info = await admin.info('stats', 'cpu');
  const field = (name: string): number => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)![1]);
  return {
    commands: field('total_commands_processed'),
    cpuSeconds: field('used_cpu_user') + field('used_cpu_sys'),
  };
}

/** Job counts per queue: `count` spread evenly (the remainder on the first queues). */
function perQueue(count: number): Record<QueueName, number> {
  const base = Math.floor(count / QUEUES.length);
  return Object.fromEntries(
    QUEUES.map((q, i) => [q, base + (i < count % QUEUES.length ? 1 : 0)]),
  ) as Record<QueueName, number>;
}

/** Each queue's payloads, `KEYS` keys in turn. */
function payloads(counts: Record<QueueName, number>): Record<QueueName, Payload[]> {
  return Object.fromEntries(
    QUEUES.map((q) => [
      q,
      Array.from({ length: counts[q] }, (_, n) => ({ n, key: `k${n % KEYS}` })),
    ]),
  ) as Record<QueueName, Payload[]>;
}

/** Batches of `BATCH`, taking turns over the queues: q1, q2, q3, q1, … */
function batches<T>(byQueue: Record<QueueName, T[]>): Array<[QueueName, T[]]> {
  const out: Array<[QueueName, T[]]> = [];
  const longest = Math.max(...QUEUES.map((q) => byQueue[q].length));
  for (let from = 0; from < longest; from += BATCH) {
    for (const q of QUEUES) {
      const batch = byQueue[q].slice(from, from + BATCH);
      if (batch.length) out.push([q, batch]);
    }
  }
  return out;
}

/**
 * Waits until every queue's completed set holds its jobs: a handler returns before BullMQ
 * moves its job to completed, and those last moves belong in the count.
 */
async function completed(
  topology: Topology,
  count: CommandCount,
  sets: Array<{ key: string; port: number; jobs: number }>,
): Promise<void> {
  const admins = new Map(topology.masters.map((m) => [m.port, m.admin]));
  const deadline = Date.now() + 30_000;
  for (const { key, port, jobs } of sets) {
    for (;;) {
      count.polled(port);
      const done = await admins.get(port)!.zcard(key);
      if (done >= jobs) break;
      if (Date.now() > deadline) throw new Error(`${key}: ${done} of ${jobs} jobs completed`);
      await sleep(5);
    }
  }
}

async function flush(topology: Topology): Promise<void> {
  await Promise.all(topology.masters.map(({ admin }) => admin.flushall()));
}

/**
 * Where the commands and the servers' time went, per job, summed over the masters, since the
 * count's RESETSTAT (scripts' commands included; the bench's INFO and polls too, a few in
 * all): `COMMAND_STATS=1 npm run bench:cluster`.
 */
async function printCommandStats(topology: Topology, who: string, jobs: number): Promise<void> {
  const calls = new Map<string, number>();
  const usec = new Map<string, number>();
  for (const { admin } of topology.masters) {
    for (const line of (await admin.info('commandstats')).split('\n')) {
      const match = /^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/.exec(line);
      if (!match) continue;
      calls.set(match[1], (calls.get(match[1]) ?? 0) + Number(match[2]));
      usec.set(match[1], (usec.get(match[1]) ?? 0) + Number(match[3]));
    }
  }
  const stats = [...calls]
    .sort((a, b) => b[1] - a[1])
    .map(
      ([name, n]) => `${name} ${(n / jobs).toFixed(2)} (${(usec.get(name)! / jobs).toFixed(1)} µs)`,
    );
  process.stderr.write(`${who}: ${stats.join(', ')}\n`);
}

/** Keys and client connections on each master (the bench's admin connection left out). */
async function snapshot(
  topology: Topology,
): Promise<{ keys: Map<number, number>; clients: Map<number, number> }> {
  const keys = new Map<number, number>();
  const clients = new Map<number, number>();
  for (const { port, admin } of topology.masters) {
    keys.set(port, await admin.dbsize());
    const info = await admin.info('clients');
    clients.set(port, Number(/connected_clients:(\d+)/.exec(info)![1]) - 1);
  }
  return { keys, clients };
}

function drainTimeout(what: string, progress: () => string): Promise<never> {
  return new Promise((_, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${what}: not drained in ${DRAIN_TIMEOUT_MS} ms (${progress()})`)),
      DRAIN_TIMEOUT_MS,
    );
    timer.unref();
  });
}

async function runRaw(topology: Topology, jobs: number, warmup = false): Promise<Measured> {
  await flush(topology);
  const counts = perQueue(jobs);
  let done = 0;
  let finish!: () => void;
  const drained = new Promise<void>((resolve) => (finish = resolve));
  const connections: Array<Redis | Cluster> = [];
  const open = (): Redis | Cluster => {
    const connection = topology.rawConnection();
    connections.push(connection);
    return connection;
  };
  const queues = new Map(
    QUEUES.map((q) => [q, new Queue(q, { connection: open(), prefix: topology.rawPrefix[q] })]),
  );
  const workers = QUEUES.map(
    (q) =>
      new Worker(
        q,
        async () => {
          if (++done === jobs) finish();
        },
        { connection: open(), prefix: topology.rawPrefix[q], concurrency: CONCURRENCY },
      ),
  );
  await Promise.all([...queues.values()].map((queue) => queue.waitUntilReady()));
  await Promise.all(workers.map((worker) => worker.waitUntilReady()));

  const count = new CommandCount(topology.masters);
  await count.start();
  const started = performance.now();
  const cpu = process.cpuUsage();
  for (const [q, batch] of batches(payloads(counts))) {
    await queues.get(q)!.addBulk(
      batch.map((data) => ({
        name: `bench.${q}`,
        data,
        // What Conveyor stores in every job: results kept a day, failures kept.
        opts: { removeOnComplete: { age: 86_400 }, removeOnFail: false },
      })),
    );
  }
  await Promise.race([drained, drainTimeout('raw', () => `${done} of ${jobs}`)]);
  const seconds = (performance.now() - started) / 1000;
  const { user, system } = process.cpuUsage(cpu);
  await completed(
    topology,
    count,
    QUEUES.map((q) => ({
      key: `${topology.rawPrefix[q]}:${q}:completed`,
      port: topology.portOf.get(topology.rawPrefix[q])!,
      jobs: counts[q],
    })),
  );
  const perMaster = await count.stop();
  if (process.env.COMMAND_STATS && !warmup) {
    await printCommandStats(topology, `raw, ${topology.name}`, jobs);
  }
  const after = await snapshot(topology);
  await Promise.all(workers.map((worker) => worker.close()));
  await Promise.all([...queues.values()].map((queue) => queue.close()));
  for (const connection of connections) connection.disconnect();
  return measured(perMaster, after, jobs, seconds, user + system);
}

async function runConveyor(
  topology: Topology,
  variant: Variant,
  jobs: number,
  warmup = false,
): Promise<Measured> {
  await flush(topology);
  const counts = perQueue(jobs);
  const refs = Object.fromEntries(
    QUEUES.map((q) => [
      q,
      defineTask<Payload, void>(`bench.${q}`, { queue: q, ...VARIANT_OPTIONS[variant] }),
    ]),
  ) as Record<QueueName, TaskRef<Payload, void>>;
  let done = 0;
  let finish!: () => void;
  const drained = new Promise<void>((resolve) => (finish = resolve));
  const tick = (): void => {
    if (++done === jobs) finish();
  };

  @Injectable()
  class Handlers {
    @Task(refs.q1)
    async q1(): Promise<void> {
      tick();
    }

    @Task(refs.q2)
    async q2(): Promise<void> {
      tick();
    }

    @Task(refs.q3)
    async q3(): Promise<void> {
      tick();
    }
  }

  @Module({
    imports: [
      TasksModule.forRoot({
        ...topology.conveyor,
        queues: Object.fromEntries(QUEUES.map((q) => [q, { concurrency: CONCURRENCY }])),
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

  const count = new CommandCount(topology.masters);
  await count.start();
  const started = performance.now();
  const cpu = process.cpuUsage();
  for (const [q, batch] of batches(payloads(counts))) {
    await producer.enqueueMany(refs[q], batch);
  }
  await Promise.race([drained, drainTimeout('conveyor', () => `${done} of ${jobs}`)]);
  const seconds = (performance.now() - started) / 1000;
  const { user, system } = process.cpuUsage(cpu);
  await completed(
    topology,
    count,
    QUEUES.map((q) => {
      const tag = conveyorTag(topology, q);
      return {
        key: `{${tag}}:${q}:completed`,
        port: topology.portOf.get(`{${tag}}`)!,
        jobs: counts[q],
      };
    }),
  );
  const perMaster = await count.stop();
  if (process.env.COMMAND_STATS && !warmup) {
    await printCommandStats(topology, `conveyor ${variant}, ${topology.name}`, jobs);
  }
  const after = await snapshot(topology);
  await app.close();
  return measured(perMaster, after, jobs, seconds, user + system);
}

/** The hash tag of a queue's keys in Conveyor's layout (see the tasks README). */
function conveyorTag(topology: Topology, queue: string): string {
  const { prefix, hashTags } = topology.conveyor;
  return hashTags === 'queue' ? `${prefix}:${queue}` : prefix!;
}

function measured(
  servers: Map<number, ServerStats>,
  { keys, clients }: { keys: Map<number, number>; clients: Map<number, number> },
  jobs: number,
  seconds: number,
  nodeCpuUs: number,
): Measured {
  const perMaster = new Map([...servers].map(([port, { commands }]) => [port, commands / jobs]));
  const sum = (of: (s: ServerStats) => number): number =>
    [...servers.values()].reduce((total, stats) => total + of(stats), 0);
  return {
    perJob: sum((s) => s.commands) / jobs,
    perMaster,
    keys,
    clients,
    seconds,
    nodeCpuUs: nodeCpuUs / jobs,
    redisCpuUs: (sum((s) => s.cpuSeconds) * 1e6) / jobs,
  };
}

async function oneRedis(): Promise<{ topology: Topology; destroy: () => Promise<void> }> {
  const server = await PrivateRedis.start();
  const admin = new Redis(server.url);
  const tags = ['{raw}', '{bench}'];
  const topology: Topology = {
    name: 'one redis',
    masters: [{ port: server.port, admin }],
    conveyor: { connection: server.url, prefix: 'bench', hashTags: 'prefix' },
    rawPrefix: { q1: '{raw}', q2: '{raw}', q3: '{raw}' },
    rawConnection: () => new Redis(server.url, { maxRetriesPerRequest: null }),
    portOf: new Map(tags.map((tag) => [tag, server.port])),
  };
  return {
    topology,
    destroy: async () => {
      admin.disconnect();
      await server.destroy();
    },
  };
}

/**
 * The first of `base`, `base1`, `base2`, … whose queue tags fall on three different masters;
 * records each tag's master in `portOf`.
 */
async function spreadPrefix(
  cluster: PrivateCluster,
  base: string,
  tagOf: (prefix: string, queue: QueueName) => string,
  portOf: Map<string, number>,
): Promise<string> {
  const tagsOf = (prefix: string) => QUEUES.map((q) => tagOf(prefix, q));
  const prefix = await cluster.spreadPrefix((i) => (i === 0 ? base : `${base}${i}`), tagsOf);
  for (const tag of tagsOf(prefix)) portOf.set(tag, await cluster.masterOf(tag));
  return prefix;
}

async function threeMasters(): Promise<{ topology: Topology; destroy: () => Promise<void> }> {
  // Without the append-only file the test helper turns on (fsync always): as the one Redis.
  const cluster = await PrivateCluster.start({
    masters: 3,
    replicas: 0,
    args: ['--appendonly', 'no'],
  });
  const masters = (await cluster.masters()).map(({ port }) => ({
    port,
    admin: new Redis({ host: '127.0.0.1', port }),
  }));
  const portOf = new Map<string, number>();
  const raw = await spreadPrefix(cluster, 'raw', (p, q) => `{${p}-${q}}`, portOf);
  const bench = await spreadPrefix(cluster, 'bench', (p, q) => `{${p}:${q}}`, portOf);
  // App-wide keys (schedules, the cancel channel) keep the app's own tag: where it falls.
  portOf.set(`{${bench}}`, await cluster.masterOf(`{${bench}}`));
  const topology: Topology = {
    name: '3 masters',
    masters,
    conveyor: {
      connection: { cluster: { nodes: cluster.startupNodes } },
      prefix: bench,
      hashTags: 'queue',
    },
    rawPrefix: Object.fromEntries(QUEUES.map((q) => [q, `{${raw}-${q}}`])) as Record<
      QueueName,
      string
    >,
    rawConnection: () => cluster.client(),
    portOf,
  };
  return {
    topology,
    destroy: async () => {
      for (const { admin } of masters) admin.disconnect();
      await cluster.destroy();
    },
  };
}

/**
 * Each master's label: the queues a contender keeps there, and for Conveyor with
 * `hashTags: 'queue'` where its app-wide tag (`app`: schedules, cancel channel) falls.
 */
function placement(contender: Contender): Map<number, string> {
  const { topology, engine } = contender;
  const labels = new Map<number, string[]>(topology.masters.map((m) => [m.port, []]));
  for (const q of QUEUES) {
    const tag = engine === 'raw' ? topology.rawPrefix[q] : `{${conveyorTag(topology, q)}}`;
    const list = labels.get(topology.portOf.get(tag)!)!;
    if (!list.includes(q)) list.push(q);
  }
  if (engine === 'conveyor' && topology.conveyor.hashTags === 'queue') {
    const { prefix } = topology.conveyor;
    labels.get(topology.portOf.get(`{${prefix}}`)!)!.push('app');
  }
  return new Map([...labels].map(([port, names]) => [port, names.join('+') || '-']));
}

/** Masters in the order of the queues they hold (q1's first). */
function orderedPorts(contender: Contender): number[] {
  const labels = placement(contender);
  return [...labels.keys()].sort((a, b) => labels.get(a)!.localeCompare(labels.get(b)!));
}

interface Row {
  topology: string;
  engine: Engine;
  variant: Variant;
  rounds: number;
  cmdsPerJob: number;
  /** Per master, labelled by the queues it holds: "q1 13.1 / q2 12.9 / q3+app 13.4". */
  cmdsPerJobByMaster: string;
  keysByMaster: string;
  jobsPerSec: number;
  /** CPU µs per job: this process (producer and worker), and the Redis servers in all. */
  nodeCpuUs: number;
  redisCpuUs: number;
  /** Conveyor ÷ raw BullMQ (plain) on the same topology. */
  cmdsVsRaw?: number;
  rateVsRaw?: number;
  /** This contender on 3 masters ÷ on one Redis. */
  cmdsVsOneRedis?: number;
  detail: {
    seconds: number;
    ports: number[];
    labels: string[];
    cmdsPerJobByMaster: number[];
    keysByMaster: number[];
    clientsByMaster: number[];
    rounds: Array<{
      cmdsPerJob: number;
      seconds: number;
      jobsPerSec: number;
      nodeCpuUs: number;
      redisCpuUs: number;
    }>;
  };
}

function summarise(contender: Contender, variant: Variant, runs: Measured[], jobs: number): Row {
  const ports = orderedPorts(contender);
  const labels = placement(contender);
  const byMaster = ports.map((port) => round2(median(runs.map((r) => r.perMaster.get(port)!))));
  const keys = ports.map((port) => median(runs.map((r) => r.keys.get(port)!)));
  const clients = ports.map((port) => median(runs.map((r) => r.clients.get(port)!)));
  const seconds = median(runs.map((r) => r.seconds));
  return {
    topology: contender.topology.name,
    engine: contender.engine,
    variant,
    rounds: runs.length,
    cmdsPerJob: round2(median(runs.map((r) => r.perJob))),
    cmdsPerJobByMaster: ports.map((p, i) => `${labels.get(p)} ${byMaster[i]}`).join(' / '),
    keysByMaster: ports.map((p, i) => `${labels.get(p)} ${keys[i]}`).join(' / '),
    jobsPerSec: Math.round(median(runs.map((r) => jobs / r.seconds))),
    nodeCpuUs: Math.round(median(runs.map((r) => r.nodeCpuUs))),
    redisCpuUs: Math.round(median(runs.map((r) => r.redisCpuUs))),
    detail: {
      seconds: round2(seconds),
      ports,
      labels: ports.map((p) => labels.get(p)!),
      cmdsPerJobByMaster: byMaster,
      keysByMaster: keys,
      clientsByMaster: clients,
      rounds: runs.map((r) => ({
        cmdsPerJob: round2(r.perJob),
        seconds: round2(r.seconds),
        jobsPerSec: Math.round(jobs / r.seconds),
        nodeCpuUs: Math.round(r.nodeCpuUs),
        redisCpuUs: Math.round(r.redisCpuUs),
      })),
    },
  };
}

function option(args: string[], name: string, fallback: number): number {
  const value = args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const n = value === undefined ? fallback : Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer`);
  return n;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const jobs = option(args, 'jobs', 6_000);
  const rounds = option(args, 'rounds', 3);
  // The test helpers' servers are unref'd child processes: while the bench awaits their
  // exit (destroy), nothing else may keep Node's event loop alive, and Node would end
  // there with code 0, before the table.
  const keepAlive = setInterval(() => undefined, 60_000);
  const startedAt = new Date().toISOString();
  const one = await oneRedis();
  let three: Awaited<ReturnType<typeof threeMasters>> | undefined;
  const rows: Row[] = [];
  try {
    three = await threeMasters();
    const plan: Array<{ variant: Variant; contenders: Contender[] }> = [
      {
        variant: 'plain',
        contenders: [
          { engine: 'raw', topology: one.topology },
          { engine: 'conveyor', topology: one.topology },
          { engine: 'raw', topology: three.topology },
          { engine: 'conveyor', topology: three.topology },
        ],
      },
      {
        variant: 'perKey',
        contenders: [
          { engine: 'conveyor', topology: one.topology },
          { engine: 'conveyor', topology: three.topology },
        ],
      },
    ];
    for (const { variant, contenders } of plan) {
      const runs = contenders.map(() => [] as Measured[]);
      // A warm-up run of each contender, not counted: the first run in a process pays for
      // the JIT and the connections' first steps, which a 1 s drain shows.
      for (const { engine, topology } of contenders) {
        if (engine === 'raw') await runRaw(topology, WARMUP, true);
        else await runConveyor(topology, variant, WARMUP, true);
      }
      for (let round = 0; round < rounds; round++) {
        // The order turns each round: none always runs first on a warming machine.
        for (let k = 0; k < contenders.length; k++) {
          const i = (k + round) % contenders.length;
          const { engine, topology } = contenders[i];
          const m =
            engine === 'raw'
              ? await runRaw(topology, jobs)
              : await runConveyor(topology, variant, jobs);
          runs[i].push(m);
          process.stderr.write(
            `${JSON.stringify({
              round: round + 1,
              topology: topology.name,
              engine,
              variant,
              cmdsPerJob: round2(m.perJob),
              cmdsPerJobByMaster: Object.fromEntries(
                [...m.perMaster].map(([port, n]) => [port, round2(n)]),
              ),
              keysByMaster: Object.fromEntries(m.keys),
              clientsByMaster: Object.fromEntries(m.clients),
              seconds: round2(m.seconds),
              jobsPerSec: Math.round(jobs / m.seconds),
              nodeCpuUs: Math.round(m.nodeCpuUs),
              redisCpuUs: Math.round(m.redisCpuUs),
            })}\n`,
          );
        }
      }
      contenders.forEach((contender, i) => {
        const row = summarise(contender, variant, runs[i], jobs);
        rows.push(row);
        process.stderr.write(`${JSON.stringify(row)}\n`);
      });
    }
  } finally {
    await one.destroy();
    await three?.destroy();
  }
  for (const row of rows) {
    if (row.engine !== 'conveyor') continue;
    const raw = rows.find((r) => r.engine === 'raw' && r.topology === row.topology);
    if (raw) {
      row.cmdsVsRaw = round2(row.cmdsPerJob / raw.cmdsPerJob);
      row.rateVsRaw = round2(row.jobsPerSec / raw.jobsPerSec);
    }
  }
  for (const row of rows) {
    if (row.topology !== '3 masters') continue;
    const single = rows.find(
      (r) => r.topology === 'one redis' && r.engine === row.engine && r.variant === row.variant,
    );
    if (single) row.cmdsVsOneRedis = round2(row.cmdsPerJob / single.cmdsPerJob);
  }
  const out = path.join(__dirname, '..', 'results');
  mkdirSync(out, { recursive: true });
  writeFileSync(
    path.join(out, 'cluster-latest.json'),
    `${JSON.stringify(
      {
        startedAt,
        machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, node: process.version },
        jobs,
        rounds,
        concurrency: CONCURRENCY,
        keys: KEYS,
        cluster: {
          conveyorPrefix: three.topology.conveyor.prefix,
          rawPrefixes: three.topology.rawPrefix,
        },
        rows,
      },
      null,
      2,
    )}\n`,
  );
  console.table(rows.map(({ detail: _, ...row }) => row));
  clearInterval(keepAlive);
  process.exit(0);
}

function round2(value: number): number {
  return Math.round(value * 100) / 100;
}

void main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
