import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { type Job, Queue, Worker } from 'bullmq';
import { type TaskRef, TaskProducer, TasksModule } from '@conveyor/tasks';
import type { ScenarioResult } from './queue-scenarios';
import type { Settings } from './settings';
import { InlineNoop, NoopTasks, THREAD_QUEUE, ThreadNoop } from './thread-noop.module';
import {
  collectGarbage,
  deferred,
  deletePrefix,
  now,
  summarize,
  uniquePrefix,
  within,
} from './util';

const CONTENDERS = ['raw', 'conveyor', 'conveyor-thread'] as const;
type Contender = (typeof CONTENDERS)[number];
const CONNECTION = { host: '127.0.0.1', port: 6379, maxRetriesPerRequest: null };

/** A worker draining a pre-filled queue, counting completions; `close` ends it. */
interface Drain {
  close(): Promise<void>;
}

/**
 * The per-job cost of `isolation: 'thread'`: the same no-op handler run inline and in a
 * worker thread (a pool of one, concurrency 1, so every job pays the hop both ways), with raw
 * BullMQ as the baseline. Completions are counted on every side (a thread's handler cannot
 * reach a counter in the main thread), from the last warm-up job to the last measured one;
 * the warm-up includes the thread's boot. CPU is the process's, every thread included.
 */
export async function threadScenarios(settings: Settings): Promise<ScenarioResult[]> {
  const { warmup, measured: count } = settings.processing;
  const rates: Record<Contender, number[]> = { raw: [], conveyor: [], 'conveyor-thread': [] };
  const cpus: Record<Contender, number[]> = { raw: [], conveyor: [], 'conveyor-thread': [] };
  for (let round = 0; round < settings.rounds; round++) {
    const order = CONTENDERS.map((_, i) => CONTENDERS[(i + round) % CONTENDERS.length]);
    for (const name of order) {
      collectGarbage();
      const prefix = uniquePrefix();
      try {
        let seen = 0;
        let start = 0;
        let cpu = process.cpuUsage();
        const done = deferred<number>();
        const onCompleted = () => {
          seen++;
          if (seen === warmup) {
            start = now();
            cpu = process.cpuUsage();
          } else if (seen === warmup + count) {
            cpu = process.cpuUsage(cpu);
            done.resolve(now() - start);
          }
        };
        const drain = await (name === 'raw'
          ? rawDrain(prefix, warmup + count, onCompleted)
          : conveyorDrain(
              prefix,
              warmup + count,
              name === 'conveyor' ? InlineNoop : ThreadNoop,
              onCompleted,
            ));
        try {
          const ms = await within(done.promise, 180_000, `${name} threads`);
          rates[name].push(count / (ms / 1000));
          cpus[name].push((cpu.user + cpu.system) / count);
        } finally {
          await drain.close();
        }
      } finally {
        await deletePrefix(prefix);
      }
    }
    process.stderr.write(`  threads: round ${round + 1}/${settings.rounds} done\n`);
  }
  const result = (
    scenario: string,
    unit: string,
    higherIsBetter: boolean,
    values: typeof rates,
  ) => ({
    group: 'threads',
    scenario,
    unit,
    higherIsBetter,
    baseline: 'raw',
    contenders: Object.fromEntries(CONTENDERS.map((n) => [n, summarize(values[n])])),
  });
  return [
    result('no-op jobs, inline vs isolation: thread, c=1', 'jobs/s', true, rates),
    result('process CPU per job, inline vs thread, c=1', 'µs/job', false, cpus),
  ];
}

async function rawDrain(prefix: string, jobs: number, onCompleted: () => void): Promise<Drain> {
  const queue = new Queue(THREAD_QUEUE, { connection: CONNECTION, prefix: `{${prefix}}` });
  await fill(jobs, (batch) => queue.addBulk(batch.map((data) => ({ name: 'noop', data }))));
  const worker = new Worker(THREAD_QUEUE, async (_job: Job) => undefined, {
    connection: CONNECTION,
    prefix: `{${prefix}}`,
    concurrency: 1,
  });
  worker.on('completed', onCompleted);
  worker.on('error', () => undefined);
  return {
    close: async () => {
      await worker.close();
      await queue.close();
    },
  };
}

async function conveyorDrain(
  prefix: string,
  jobs: number,
  task: TaskRef<{ i: number }, void>,
  onCompleted: () => void,
): Promise<Drain> {
  const make = async (workers: 'all' | 'none') => {
    @Module({
      imports: [
        TasksModule.forRoot({
          connection: 'redis://127.0.0.1:6379',
          prefix,
          queues: { [THREAD_QUEUE]: { concurrency: 1 } },
          workers,
          hooks: { onSuccess: onCompleted },
          threads: {
            module: { path: require.resolve('./thread-noop.module'), export: 'ThreadNoopModule' },
            size: 1,
            // The bench runs the TypeScript sources; so do its threads.
            execArgv: ['-r', require.resolve('../../test/support/children/register.js')],
          },
        }),
      ],
      providers: [NoopTasks],
    })
    class ThreadBenchModule {}
    return NestFactory.createApplicationContext(ThreadBenchModule, {
      logger: false,
      abortOnError: false,
    });
  };
  // Filled first, by an app that does not consume, so the worker starts on a full queue.
  const producerApp = await make('none');
  const producer = producerApp.get(TaskProducer);
  await fill(jobs, (batch) => producer.enqueueMany(task, batch));
  await producerApp.close();
  const app = await make('all');
  return { close: () => app.close() };
}

async function fill(jobs: number, add: (batch: { i: number }[]) => Promise<unknown>) {
  for (let done = 0; done < jobs; done += 500) {
    const n = Math.min(500, jobs - done);
    await add(Array.from({ length: n }, (_, i) => ({ i: done + i })));
  }
}
