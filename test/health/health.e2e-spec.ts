import { Controller, Get, Injectable } from '@nestjs/common';
import { HealthCheck, HealthCheckService } from '@nestjs/terminus';
import { CircuitBreakers, defineTask, Task, TaskControl, TaskProducer } from '@conveyor/tasks';
import {
  HealthModule,
  OutboxHealthIndicator,
  QueuesHealthIndicator,
  RedisHealthIndicator,
} from '@conveyor/health';
import { get, type HttpTestApp, startHttpApp, stopHttpApps } from '../support/http-app';
import { PrivateRedis } from '../support/private-redis';
import { closeRawQueue, rawQueue } from '../support/redis';
import { eventually } from '../support/tasks-app';

const Echo = defineTask<{ n: number }, number>('health.echo', {
  queue: 'work',
  circuitBreaker: { name: 'echo', failureThreshold: 100, window: '1m', cooldown: '1m' },
});
// No handler in these apps: jobs of these queues wait, which is the backlog under test.
const Parked = defineTask<{ n: number }, void>('health.parked', { queue: 'parked' });
const Slow = defineTask<{ n: number }, void>('health.slow', { queue: 'slow' });

@Injectable()
class EchoTasks {
  @Task(Echo)
  echo({ n }: { n: number }): number {
    return n;
  }
}

interface Body {
  status: string;
  info?: Record<string, Record<string, unknown>>;
  error?: Record<string, Record<string, unknown>>;
}

async function ready(app: HttpTestApp): Promise<{ status: number; body: Body }> {
  const response = await get(`${app.url}/health/ready`);
  return { status: response.status, body: JSON.parse(response.text) as Body };
}

// The README's "Indicators" example, as written: an app's own route with HealthModule only.
@Controller('status')
class StatusController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly redis: RedisHealthIndicator,
    private readonly queues: QueuesHealthIndicator,
    private readonly outbox: OutboxHealthIndicator,
  ) {}

  @Get()
  @HealthCheck()
  check() {
    return this.health.check([
      () => this.redis.isHealthy('redis'),
      () => this.queues.isHealthy('queues'),
      () => this.queues.workersRunning('workers'),
      () => this.outbox.isHealthy('outbox'),
    ]);
  }
}

describe('GET /health', () => {
  let app: HttpTestApp | undefined;
  let redis: PrivateRedis | undefined;

  afterEach(async () => {
    // Taken first: a teardown that outlives its hook must not touch the next test's app.
    const [stopping, server] = [app, redis];
    app = redis = undefined;
    await stopHttpApps(stopping);
    await server?.stop();
  });

  it('answers live, and ready with every check named in the body', async () => {
    app = await startHttpApp({ imports: [HealthModule.forRoot()], providers: [EchoTasks] });
    const live = await get(`${app.url}/health/live`);
    expect(live.status).toBe(200);
    expect(JSON.parse(live.text)).toMatchObject({ status: 'ok' });
    const { status, body } = await ready(app);
    expect(status).toBe(200);
    expect(body.info).toMatchObject({
      redis: { status: 'up' },
      queues: { status: 'up', queues: { work: { waiting: 0, oldestWaitingAgeMs: 0 } } },
      workers: { status: 'up', queues: ['work'] },
    });
    // No OutboxModule in this app: no outbox check.
    expect(body.info).not.toHaveProperty('outbox');
  });

  it('reports open circuit breakers and paused queues and tasks, and stays ready', async () => {
    app = await startHttpApp({ imports: [HealthModule.forRoot()], providers: [EchoTasks] });
    expect((await ready(app)).body.info).toMatchObject({
      controls: {
        status: 'up',
        circuitBreakers: { echo: 'closed' },
        pausedQueues: [],
        pausedTasks: [],
      },
    });
    await app.get(CircuitBreakers).open('echo');
    await app.get(TaskControl).pause('work');
    await app.get(TaskControl).pauseTask('health.echo');
    const { status, body } = await ready(app);
    expect(status).toBe(200);
    expect(body.info).toMatchObject({
      controls: {
        status: 'up',
        circuitBreakers: { echo: 'open' },
        pausedQueues: ['work'],
        pausedTasks: ['health.echo'],
      },
    });
  });

  it("serves the README's own status route with the indicators, importing HealthModule only", async () => {
    app = await startHttpApp({
      imports: [HealthModule.forRoot()],
      controllers: [StatusController],
      providers: [EchoTasks],
    });
    const response = await get(`${app.url}/status`);
    // Down only for the outbox this app does not have, which the example says.
    expect(response.status).toBe(503);
    expect(JSON.parse(response.text)).toMatchObject({
      info: { redis: { status: 'up' }, queues: { status: 'up' }, workers: { status: 'up' } },
      error: { outbox: { status: 'down', message: 'OutboxModule is not imported' } },
    });
  });

  it('turns 503 when Redis stops, quickly, and 200 again once it is back', async () => {
    redis = await PrivateRedis.start();
    app = await startHttpApp({
      tasks: { connection: redis.url },
      imports: [HealthModule.forRoot({ timeout: '500ms' })],
      providers: [EchoTasks],
    });
    expect((await ready(app)).status).toBe(200);

    await redis.stop();
    const down = (await eventually(
      async () => {
        const response = await ready(app!);
        return response.status === 503 ? response : undefined;
      },
      15_000,
      'ready to fail',
    ))!;
    expect(down.body.status).toBe('error');
    expect(down.body.error).toMatchObject({ redis: { status: 'down' } });
    expect(String(down.body.error!.redis.message)).toMatch(/within 500 ms|closed|ECONNREFUSED/);

    await redis.start();
    await eventually(async () => (await ready(app!)).status === 200, 20_000, 'ready again');
  });

  it('answers 503 when Redis hangs, with the check that timed out, and 200 once it answers', async () => {
    redis = await PrivateRedis.start();
    app = await startHttpApp({
      tasks: { connection: redis.url },
      imports: [HealthModule.forRoot({ timeout: '300ms' })],
      providers: [EchoTasks],
    });
    expect((await ready(app)).status).toBe(200);
    redis.pause();
    try {
      const { status, body } = await ready(app);
      expect(status).toBe(503);
      expect(body.error).toMatchObject({
        redis: { status: 'down', message: 'Redis did not answer within 300 ms' },
        queues: { status: 'down', message: 'Redis did not answer within 300 ms' },
      });
    } finally {
      redis.resume();
    }
    await eventually(async () => (await ready(app!)).status === 200, 20_000, 'ready again');
  });

  it('turns 503 when a queue holds more jobs than its threshold, 200 once drained', async () => {
    app = await startHttpApp({
      tasks: { queues: { work: {}, parked: {} } },
      imports: [HealthModule.forRoot({ thresholds: { queues: { parked: { waiting: 2 } } } })],
      providers: [EchoTasks],
    });
    const producer = app.get(TaskProducer);
    await producer.enqueueMany(Parked, [{ n: 1 }, { n: 2 }]);
    expect((await ready(app)).status).toBe(200);

    await producer.enqueue(Parked, { n: 3 });
    const down = await ready(app);
    expect(down.status).toBe(503);
    expect(down.body.error).toMatchObject({
      queues: { status: 'down', queues: { parked: { waiting: 3 } } },
    });
    expect(down.body.error!.queues.queues).toMatchObject({
      parked: { problem: '3 jobs waiting, over the threshold of 2' },
    });

    const queue = rawQueue(app.prefix, 'parked');
    try {
      await queue.drain();
    } finally {
      await closeRawQueue(queue);
    }
    expect((await ready(app)).status).toBe(200);
  });

  it('turns 503 when the oldest waiting job is older than its threshold', async () => {
    app = await startHttpApp({
      tasks: { queues: { work: {}, slow: {} } },
      imports: [HealthModule.forRoot({ thresholds: { oldestWaitingAge: '300ms' } })],
      providers: [EchoTasks],
    });
    await app.get(TaskProducer).enqueue(Slow, { n: 1 });
    const down = (await eventually(
      async () => {
        const response = await ready(app!);
        return response.status === 503 ? response : undefined;
      },
      10_000,
      'the job to age past the threshold',
    ))!;
    const slow = (down.body.error!.queues.queues as Record<string, { oldestWaitingAgeMs: number }>)
      .slow;
    expect(slow.oldestWaitingAgeMs).toBeGreaterThan(300);
  });
});
