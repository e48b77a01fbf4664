import { Writable } from 'node:stream';
import { Injectable, type INestApplication, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Logger, LoggerModule } from 'nestjs-pino';
import { defineTask, Task, type TaskContext, TaskProducer, TasksModule } from '@conveyor/tasks';
import { deletePrefix, REDIS_URL, uniquePrefix } from '../support/redis';

// The README's "Logs" example (packages/tasks/README.md), with the lines sent to a stream the
// test reads, a test prefix, and init() in place of listen().

const ChargeCard = defineTask<{ orderId: string }, void>('billing.charge', {
  queue: 'billing',
  attempts: 3,
  backoff: { type: 'fixed', delay: 50 },
});

@Injectable()
class Payments {
  calls = 0;
  async charge(orderId: string): Promise<void> {
    if (++this.calls === 1) throw new Error(`card network timeout for ${orderId}`);
  }
}

@Injectable()
class BillingTasks {
  constructor(private readonly payments: Payments) {}

  @Task(ChargeCard)
  async charge(payload: { orderId: string }, ctx: TaskContext): Promise<void> {
    ctx.log.log('charging card', { orderId: payload.orderId });
    await this.payments.charge(payload.orderId);
  }
}

interface PinoLine {
  level: number;
  msg: string;
  context?: string;
  [field: string]: unknown;
}

describe('logs through nestjs-pino', () => {
  const prefix = uniquePrefix();
  const lines: PinoLine[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line));
      done();
    },
  });
  let app: INestApplication | undefined;

  afterAll(async () => {
    await app?.close();
    await deletePrefix(prefix);
  });

  it('writes task, queue, job id, attempt and durations as fields of each line', async () => {
    @Module({
      imports: [
        LoggerModule.forRoot({ pinoHttp: { stream } }),
        TasksModule.forRoot({ connection: REDIS_URL, prefix }),
      ],
      providers: [Payments, BillingTasks],
    })
    class AppModule {}

    app = await NestFactory.create(AppModule, { bufferLogs: true });
    app.useLogger(app.get(Logger));
    await app.init();

    const handle = await app.get(TaskProducer).enqueue(ChargeCard, { orderId: 'o-42' });
    await handle.result({ timeout: '10s' });
    const jobId = handle.id;
    const run = { task: 'billing.charge', queue: 'billing', jobId };

    expect(lines).toContainEqual(
      expect.objectContaining({
        context: 'Conveyor',
        msg: 'registered 1 task handler(s)',
        tasks: ['billing.charge'],
      }),
    );

    // pino writes to a stream as it logs: the first attempt's lines came before the result.
    const failure = lines.find((line) => line.level === 40 && line.jobId === jobId);
    expect(failure).toMatchObject({
      context: 'Task billing.charge',
      msg: `job ${jobId} attempt 1/3 failed, will retry: Error: card network timeout for o-42`,
      ...run,
      attempt: 1,
      maxAttempts: 3,
      willRetry: true,
      retryInMs: 50,
      error: { name: 'Error', message: 'card network timeout for o-42' },
    });
    expect(failure?.durationMs).toBeGreaterThanOrEqual(0);

    const handlerLines = lines.filter((line) => line.msg === 'charging card');
    expect(handlerLines).toEqual([
      expect.objectContaining({
        level: 30,
        context: 'Task billing.charge',
        ...run,
        attempt: 1,
        orderId: 'o-42',
      }),
      expect.objectContaining({
        level: 30,
        context: 'Task billing.charge',
        ...run,
        attempt: 2,
        orderId: 'o-42',
      }),
    ]);
  });
});
