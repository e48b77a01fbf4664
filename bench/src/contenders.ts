import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { BullModule, InjectQueue, Processor, WorkerHost } from '@nestjs/bullmq';
import { type Job, Queue, Worker } from 'bullmq';
import { defineTask, Task, TaskProducer, TasksModule } from '@conveyor/tasks';
import { MetricsModule } from '@conveyor/metrics';
import { Registry } from 'prom-client';

/** What every benchmark job carries: a sequence number, a send time, optional padding. */
export interface BenchPayload {
  i: number;
  t?: number;
  pad?: string;
}

export type Handler = (data: BenchPayload) => void;

/** One contender's producer (and, when asked, its worker) on a queue of its own prefix. */
export interface Side {
  add(data: BenchPayload): Promise<unknown>;
  addBulk(data: BenchPayload[]): Promise<unknown>;
  close(): Promise<void>;
}

export interface SideOptions {
  prefix: string;
  worker?: { concurrency: number; handler: Handler };
}

export type ContenderName = 'raw' | 'nestjs-bullmq' | 'conveyor';
/** All three, or those named in BENCH_CONTENDERS (comma-separated; for profiling one). */
export const CONTENDER_NAMES = (['raw', 'nestjs-bullmq', 'conveyor'] as ContenderName[]).filter(
  (name) => !process.env.BENCH_CONTENDERS || process.env.BENCH_CONTENDERS.split(',').includes(name),
);

export const QUEUE = 'bench';
const JOB_NAME = 'bench.noop';
const CONNECTION = { host: '127.0.0.1', port: 6379, maxRetriesPerRequest: null };

/** Raw BullMQ: a Queue and a Worker with a no-op processor, BullMQ's own defaults. */
async function raw(o: SideOptions): Promise<Side> {
  const prefix = `{${o.prefix}}`;
  const queue = new Queue(QUEUE, { connection: CONNECTION, prefix });
  let worker: Worker | undefined;
  if (o.worker) {
    const { handler } = o.worker;
    worker = new Worker(
      QUEUE,
      async (job: Job<BenchPayload>) => {
        handler(job.data);
      },
      { connection: CONNECTION, prefix, concurrency: o.worker.concurrency },
    );
    worker.on('error', () => undefined);
  }
  await queue.waitUntilReady();
  return {
    add: (data) => queue.add(JOB_NAME, data),
    addBulk: (data) => queue.addBulk(data.map((d) => ({ name: JOB_NAME, data: d }))),
    close: async () => {
      await worker?.close();
      await queue.close();
    },
  };
}

/** @nestjs/bullmq as its docs show it: `@Processor(name, workerOptions)` + `WorkerHost`. */
async function nestBullmq(o: SideOptions): Promise<Side> {
  const handler = o.worker?.handler ?? (() => undefined);

  @Processor(QUEUE, { concurrency: o.worker?.concurrency ?? 1 })
  class NoopProcessor extends WorkerHost {
    async process(job: Job<BenchPayload>): Promise<void> {
      handler(job.data);
    }
  }

  @Injectable()
  class Producer {
    constructor(@InjectQueue(QUEUE) readonly queue: Queue) {}
  }

  @Module({
    imports: [
      BullModule.forRoot({ connection: CONNECTION, prefix: `{${o.prefix}}` }),
      BullModule.registerQueue({ name: QUEUE }),
    ],
    providers: [Producer, ...(o.worker ? [NoopProcessor] : [])],
  })
  class NestBullmqBenchModule {}

  const app = await NestFactory.createApplicationContext(NestBullmqBenchModule, {
    logger: false,
    abortOnError: false,
  });
  const queue = app.get(Producer).queue;
  return {
    add: (data) => queue.add(JOB_NAME, data),
    addBulk: (data) => queue.addBulk(data.map((d) => ({ name: JOB_NAME, data: d }))),
    close: () => app.close(),
  };
}

const Noop = defineTask<BenchPayload, void>(JOB_NAME, { queue: QUEUE });
let conveyorHandler: Handler = () => undefined;

@Injectable()
class ConveyorNoop {
  @Task(Noop)
  async noop(payload: BenchPayload): Promise<void> {
    conveyorHandler(payload);
  }
}

/**
 * Conveyor with its defaults: `@Task` + `TaskProducer`, concurrency set on the queue, and
 * `MetricsModule` imported, so every enqueue, start and end feeds its Prometheus counters and
 * histograms (a registry of its own per app; no scrapes during a run). `@opentelemetry/api`
 * is loaded without an SDK, as in an app that has not set up tracing.
 */
async function conveyor(o: SideOptions): Promise<Side> {
  conveyorHandler = o.worker?.handler ?? (() => undefined);

  @Module({
    imports: [
      TasksModule.forRoot({
        connection: 'redis://127.0.0.1:6379',
        prefix: o.prefix,
        queues: { [QUEUE]: { concurrency: o.worker?.concurrency ?? 1 } },
        workers: o.worker ? 'all' : 'none',
      }),
      MetricsModule.forRoot({ registry: new Registry() }),
    ],
    providers: [ConveyorNoop],
  })
  class ConveyorBenchModule {}

  const app = await NestFactory.createApplicationContext(ConveyorBenchModule, {
    logger: false,
    abortOnError: false,
  });
  const producer = app.get(TaskProducer);
  return {
    add: (data) => producer.enqueue(Noop, data),
    addBulk: (data) => producer.enqueueMany(Noop, data),
    close: () => app.close(),
  };
}

export const CONTENDERS: Record<ContenderName, (o: SideOptions) => Promise<Side>> = {
  raw,
  'nestjs-bullmq': nestBullmq,
  conveyor,
};
