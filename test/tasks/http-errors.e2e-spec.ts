import {
  Body,
  Controller,
  Get,
  NotFoundException,
  Param,
  Post,
  type Provider,
} from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import {
  ConveyorExceptionFilter,
  defineTask,
  TaskPayloadPipe,
  TaskProducer,
} from '@conveyor/tasks';
import { z } from 'zod';
import { type HttpTestApp, startHttpApp, stopHttpApps } from '../support/http-app';
import { PrivateRedis } from '../support/private-redis';
import { closeRawQueue, countJobs, rawQueue } from '../support/redis';

const Email = z.object({
  to: z.email(),
  subject: z.string().trim().min(1),
  priority: z.enum(['low', 'high']).default('low'),
});
// No handler in these apps: an enqueued job waits in Redis, where the test reads it.
const SendEmail = defineTask('http.email.send', { queue: 'email', schema: Email });

@Controller('emails')
class EmailController {
  constructor(private readonly producer: TaskProducer) {}

  @Post()
  async send(@Body(new TaskPayloadPipe(SendEmail)) body: z.output<typeof Email>) {
    const handle = await this.producer.enqueue(SendEmail, body);
    return { jobId: handle.id };
  }

  // No pipe: the producer's own check refuses the body, and the filter answers for it.
  @Post('unchecked')
  async sendUnchecked(@Body() body: z.input<typeof Email>) {
    const handle = await this.producer.enqueue(SendEmail, body);
    return { jobId: handle.id };
  }

  @Get(':id')
  find(@Param('id') id: string): never {
    throw new NotFoundException(`no email ${id}`);
  }
}

const filter: Provider = { provide: APP_FILTER, useClass: ConveyorExceptionFilter };

async function post(
  app: HttpTestApp,
  body: unknown,
  path = 'emails',
): Promise<{ status: number; headers: Headers; body: any }> {
  const response = await fetch(`${app.url}/${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, headers: response.headers, body: await response.json() };
}

describe('HTTP: Conveyor errors and task payload validation', () => {
  let app: HttpTestApp | undefined;
  let redis: PrivateRedis | undefined;
  afterEach(async () => {
    // Taken first: a teardown that outlives its hook must not touch the next test's app.
    const [stopping, server] = [app, redis];
    app = redis = undefined;
    await stopHttpApps(stopping);
    await server?.destroy();
  });

  it("enqueues a valid body as the schema's output and answers 201", async () => {
    app = await startHttpApp({ controllers: [EmailController], providers: [filter] });
    const { status, body } = await post(app, { to: 'ada@example.com', subject: '  Hello  ' });
    expect(status).toBe(201);
    expect(body).toEqual({ jobId: expect.any(String) });

    const queue = rawQueue(app.prefix, 'email');
    try {
      const job = await queue.getJob(body.jobId);
      expect(job?.name).toBe('http.email.send');
      expect(job?.data).toEqual({ to: 'ada@example.com', subject: 'Hello', priority: 'low' });
    } finally {
      await closeRawQueue(queue);
    }
  });

  it('answers a body the schema refuses 400 with the task and every problem, enqueueing nothing', async () => {
    app = await startHttpApp({ controllers: [EmailController], providers: [filter] });
    const { status, body } = await post(app, { to: 'not-an-email', priority: 'urgent' });
    expect(status).toBe(400);
    expect(body).toEqual({
      statusCode: 400,
      error: 'Bad Request',
      message: expect.stringMatching(/^Invalid payload for task "http\.email\.send": /),
      task: 'http.email.send',
      problems: [
        expect.stringMatching(/^payload\.to: /),
        expect.stringMatching(/^payload\.subject: /),
        expect.stringMatching(/^payload\.priority: /),
      ],
    });
    expect(await countJobs(app.prefix, ['email'])).toBe(0);
  });

  it('answers an InvalidPayloadError from enqueue itself 400 through the filter', async () => {
    app = await startHttpApp({ controllers: [EmailController], providers: [filter] });
    const { status, body } = await post(app, { to: 'ada@example.com' }, 'emails/unchecked');
    expect(status).toBe(400);
    expect(body).toEqual({
      statusCode: 400,
      error: 'Bad Request',
      message: expect.stringMatching(/^Invalid payload for task "http\.email\.send": /),
      task: 'http.email.send',
      problems: [expect.stringMatching(/^payload\.subject: /)],
    });
    expect(await countJobs(app.prefix, ['email'])).toBe(0);
  });

  it('answers 503 with Retry-After when Redis is unreachable, without naming Redis', async () => {
    redis = await PrivateRedis.start();
    app = await startHttpApp({
      tasks: { connection: redis.url, enqueueTimeout: '300ms' },
      controllers: [EmailController],
      providers: [
        { provide: APP_FILTER, useValue: new ConveyorExceptionFilter({ retryAfterSeconds: 7 }) },
      ],
    });
    await redis.stop();

    const started = Date.now();
    const { status, headers, body } = await post(app, { to: 'ada@example.com', subject: 'Hi' });
    expect(status).toBe(503);
    expect(headers.get('retry-after')).toBe('7');
    expect(body).toEqual({
      statusCode: 503,
      error: 'Service Unavailable',
      message:
        'Could not enqueue task "http.email.send": the task queue is unavailable; retry later.',
    });
    expect(JSON.stringify(body)).not.toContain(String(redis.port));
    // Answered within enqueueTimeout, not after a client-side timeout.
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it("keeps a NotFoundException from the controller a 404 with Nest's usual body", async () => {
    app = await startHttpApp({ controllers: [EmailController], providers: [filter] });
    const response = await fetch(`${app.url}/emails/42`);
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({
      statusCode: 404,
      message: 'no email 42',
      error: 'Not Found',
    });
  });
});
