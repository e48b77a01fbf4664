// A NestJS app as a user writes it, compiled and run by test/consumer/run.mjs against packed
// tarballs of @conveyor/* installed from the READMEs' commands. The same source builds as
// CommonJS (NestJS 11) and as ESM (NestJS 12): run.mjs adds the `.js` the ESM build needs.
import 'reflect-metadata';
import { Body, Controller, Injectable, Module, Post, UseInterceptors } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { DashboardModule } from '@conveyor/dashboard';
import { HealthModule } from '@conveyor/health';
import { MetricsModule } from '@conveyor/metrics';
import { Outbox, OutboxInterceptor, OutboxModule } from '@conveyor/outbox';
import { defineEvent, defineTask, Task, TaskProducer, TasksModule } from '@conveyor/tasks';

export const Add = defineTask<{ a: number; b: number }, number>('math.add', {
  attempts: 2,
  maxConcurrent: 4,
});

export const SumRequested = defineEvent<{ a: number; b: number }>('math.sum-requested');

@Injectable()
export class MathTasks {
  @Task(Add, { on: SumRequested })
  add({ a, b }: { a: number; b: number }): number {
    return a + b;
  }
}

@Controller('add')
export class AddController {
  constructor(private readonly producer: TaskProducer) {}

  @Post()
  async add(@Body() body: { a: number; b: number }): Promise<{ sum: number }> {
    const handle = await this.producer.enqueue(Add, body);
    return { sum: await handle.result({ timeout: '10s' }) };
  }
}

// Written in the request's transaction, relayed after the commit.
@Controller('sums')
@UseInterceptors(OutboxInterceptor)
export class SumsController {
  constructor(private readonly outbox: Outbox) {}

  @Post()
  async request(@Body() body: { a: number; b: number }): Promise<{ jobIds: string[] }> {
    const { jobIds } = await this.outbox.emit(SumRequested, body);
    return { jobIds };
  }
}

@Module({
  imports: [
    TasksModule.forRoot({
      connection: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
      prefix: process.env.CONVEYOR_PREFIX ?? 'consumer',
      shutdownTimeout: process.env.SHUTDOWN_TIMEOUT ?? '5s',
    }),
    OutboxModule.forRoot({
      url: process.env.DATABASE_URL ?? 'postgresql://root@127.0.0.1:5432/test',
      table: process.env.OUTBOX_TABLE ?? 'conveyor_outbox',
      createTable: true,
      relay: { pollInterval: '50ms' },
    }),
    HealthModule.forRoot(),
    MetricsModule.forRoot(),
    DashboardModule.forRoot({ token: process.env.DASHBOARD_TOKEN }),
  ],
  controllers: [AddController, SumsController],
  providers: [MathTasks],
})
export class AppModule {}

async function main(): Promise<void> {
  const app = await NestFactory.create(AppModule, { logger: ['error', 'warn'] });
  app.enableShutdownHooks();
  await app.listen(0, '127.0.0.1');
  process.stdout.write(`LISTENING ${await app.getUrl()}\n`);
}

void main();
