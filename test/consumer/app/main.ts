// A NestJS app as a user writes it, compiled and run by test/consumer/run.mjs against packed
// tarballs of @conveyor/* installed from the READMEs' commands. The same source builds as
// CommonJS (NestJS 11) and as ESM (NestJS 12): run.mjs adds the `.js` the ESM build needs.
import 'reflect-metadata';
import { Body, Controller, Injectable, Module, Post } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { HealthModule } from '@conveyor/health';
import { MetricsModule } from '@conveyor/metrics';
import { defineTask, Task, TaskProducer, TasksModule } from '@conveyor/tasks';

export const Add = defineTask<{ a: number; b: number }, number>('math.add', {
  attempts: 2,
  maxConcurrent: 4,
});

@Injectable()
export class MathTasks {
  @Task(Add)
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

@Module({
  imports: [
    TasksModule.forRoot({
      connection: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
      prefix: process.env.CONVEYOR_PREFIX ?? 'consumer',
      shutdownTimeout: process.env.SHUTDOWN_TIMEOUT ?? '5s',
    }),
    HealthModule.forRoot(),
    MetricsModule.forRoot(),
  ],
  controllers: [AddController],
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
