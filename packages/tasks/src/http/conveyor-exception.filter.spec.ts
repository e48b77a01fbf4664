import {
  type ArgumentsHost,
  Catch,
  Controller,
  type ExceptionFilter,
  Get,
  type INestApplication,
  NotFoundException,
  type Provider,
  Res,
} from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { Test } from '@nestjs/testing';
import { firstValueFrom, isObservable } from 'rxjs';
import {
  EnqueueFailedError,
  InvalidLimitKeyError,
  InvalidPayloadError,
  InvalidScheduleError,
  InvalidTaskOptionsError,
} from '../errors';
import { ConveyorExceptionFilter } from './conveyor-exception.filter';

const refused = Object.assign(new Error('connect ECONNREFUSED 10.0.0.7:6379'), {
  code: 'ECONNREFUSED',
});

@Controller()
class ThrowingController {
  @Get('payload')
  payload(): never {
    throw new InvalidPayloadError('email.send', ['payload.to: Invalid email', 'payload.x: bad']);
  }

  @Get('limit-key')
  limitKey(): never {
    throw new InvalidLimitKeyError('crm.sync', 'must return a string of 1–512 characters');
  }

  @Get('schedule')
  schedule(): never {
    throw new InvalidScheduleError(undefined, 'schedule.every must be at least 1s');
  }

  @Get('task-options')
  taskOptions(): never {
    throw new InvalidTaskOptionsError('note', "queue 'x' is not declared");
  }

  @Get('enqueue-failed')
  enqueueFailed(): never {
    throw new EnqueueFailedError('email.send', 'email', 'connection', refused);
  }

  @Get('not-found')
  notFound(): never {
    throw new NotFoundException('no such order');
  }

  @Get('plain')
  plain(): never {
    throw new Error('boom');
  }

  @Get('half-sent')
  halfSent(@Res() res: { status(code: number): void; write(text: string): void }): never {
    res.status(200);
    res.write('partial');
    throw new InvalidPayloadError('email.send', ['too late']);
  }
}

/** A catch-all filter the app registered first; it must still see what is not Conveyor's. */
@Catch()
class TeapotFilter implements ExceptionFilter {
  catch(_: unknown, host: ArgumentsHost): void {
    host.switchToHttp().getResponse().status(418).json({ teapot: true });
  }
}

interface Served {
  get(path: string): Promise<{ status: number; headers: Headers; body: any; text: string }>;
  close(): Promise<void>;
}

async function serve(
  setup: { providers?: Provider[]; configure?: (app: INestApplication) => void } = {},
): Promise<Served> {
  const moduleRef = await Test.createTestingModule({
    controllers: [ThrowingController],
    providers: setup.providers ?? [],
  }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  setup.configure?.(app);
  await app.listen(0, '127.0.0.1');
  const url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  return {
    get: async (path) => {
      const response = await fetch(`${url}/${path}`);
      const text = await response.text();
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        body = undefined;
      }
      return { status: response.status, headers: response.headers, body, text };
    },
    close: () => app.close(),
  };
}

describe('ConveyorExceptionFilter', () => {
  describe('installed with app.useGlobalFilters(new ConveyorExceptionFilter())', () => {
    let served: Served;
    beforeAll(async () => {
      served = await serve({
        configure: (app) => app.useGlobalFilters(new ConveyorExceptionFilter()),
      });
    });
    afterAll(() => served.close());

    it('answers an InvalidPayloadError 400 with the task and every problem', async () => {
      const { status, body } = await served.get('payload');
      expect(status).toBe(400);
      expect(body).toEqual({
        statusCode: 400,
        error: 'Bad Request',
        message: 'Invalid payload for task "email.send": payload.to: Invalid email; payload.x: bad',
        task: 'email.send',
        problems: ['payload.to: Invalid email', 'payload.x: bad'],
      });
    });

    it('answers an InvalidLimitKeyError 400 with the task', async () => {
      const { status, body } = await served.get('limit-key');
      expect(status).toBe(400);
      expect(body).toEqual({
        statusCode: 400,
        error: 'Bad Request',
        message:
          'the lock/concurrencyKey function of task crm.sync must return a string of 1–512 characters',
        task: 'crm.sync',
      });
    });

    it('answers an InvalidScheduleError 400, without a task when it names none', async () => {
      const { status, body } = await served.get('schedule');
      expect(status).toBe(400);
      expect(body).toEqual({
        statusCode: 400,
        error: 'Bad Request',
        message: 'Invalid schedule: schedule.every must be at least 1s',
      });
    });

    it('answers an EnqueueFailedError 503 with Retry-After, and keeps Redis out of the body', async () => {
      const { status, headers, body, text } = await served.get('enqueue-failed');
      expect(status).toBe(503);
      expect(headers.get('retry-after')).toBe('5');
      expect(headers.get('content-type')).toMatch(/^application\/json/);
      expect(body).toEqual({
        statusCode: 503,
        error: 'Service Unavailable',
        message: 'Could not enqueue task "email.send": the task queue is unavailable; retry later.',
      });
      expect(text).not.toMatch(/10\.0\.0\.7|6379|ECONNREFUSED/);
    });

    it('leaves InvalidTaskOptionsError to Nest: a 500, as configuration faults are', async () => {
      const { status, body } = await served.get('task-options');
      expect(status).toBe(500);
      expect(body).toEqual({ statusCode: 500, message: 'Internal server error' });
    });

    it("leaves an HttpException to Nest: NotFoundException stays a 404 with Nest's body", async () => {
      const { status, body } = await served.get('not-found');
      expect(status).toBe(404);
      expect(body).toEqual({ statusCode: 404, message: 'no such order', error: 'Not Found' });
    });

    it("leaves any other error to Nest: a 500 with Nest's body", async () => {
      const { status, body } = await served.get('plain');
      expect(status).toBe(500);
      expect(body).toEqual({ statusCode: 500, message: 'Internal server error' });
    });

    it('ends a response whose headers were already sent, as Nest does', async () => {
      const { status, text } = await served.get('half-sent');
      expect(status).toBe(200);
      expect(text).toBe('partial');
    });
  });

  it('sends the Retry-After given as retryAfterSeconds', async () => {
    const served = await serve({
      configure: (app) =>
        app.useGlobalFilters(new ConveyorExceptionFilter({ retryAfterSeconds: 30 })),
    });
    try {
      const { status, headers } = await served.get('enqueue-failed');
      expect(status).toBe(503);
      expect(headers.get('retry-after')).toBe('30');
    } finally {
      await served.close();
    }
  });

  it('works as an APP_FILTER provider built by DI', async () => {
    const served = await serve({
      providers: [{ provide: APP_FILTER, useClass: ConveyorExceptionFilter }],
    });
    try {
      expect(await served.get('payload')).toMatchObject({
        status: 400,
        body: { task: 'email.send', problems: ['payload.to: Invalid email', 'payload.x: bad'] },
      });
      expect(await served.get('enqueue-failed')).toMatchObject({ status: 503 });
      expect((await served.get('enqueue-failed')).headers.get('retry-after')).toBe('5');
      expect(await served.get('not-found')).toMatchObject({
        status: 404,
        body: { statusCode: 404, message: 'no such order', error: 'Not Found' },
      });
    } finally {
      await served.close();
    }
  });

  it("leaves other exceptions to the app's other filters, whichever was registered first", async () => {
    const served = await serve({
      configure: (app) => app.useGlobalFilters(new TeapotFilter(), new ConveyorExceptionFilter()),
    });
    try {
      expect(await served.get('not-found')).toMatchObject({ status: 418, body: { teapot: true } });
      expect(await served.get('plain')).toMatchObject({ status: 418 });
      expect(await served.get('payload')).toMatchObject({ status: 400 });
    } finally {
      await served.close();
    }
  });

  describe('outside HTTP', () => {
    const filter = new ConveyorExceptionFilter();
    const hostOf = (type: string) => ({ getType: () => type }) as unknown as ArgumentsHost;
    const error = new InvalidPayloadError('email.send', ['bad']);

    it('rethrows in an RPC handler as an erroring stream of the same error', async () => {
      const result = filter.catch(error, hostOf('rpc'));
      expect(isObservable(result)).toBe(true);
      await expect(firstValueFrom(result!)).rejects.toBe(error);
    });

    it.each(['ws', 'graphql'])('throws the same error on in a %s context', (type) => {
      expect(() => filter.catch(error, hostOf(type))).toThrow(error);
    });
  });

  describe('options', () => {
    it('refuses a retryAfterSeconds that is not a whole number of seconds', () => {
      expect(() => new ConveyorExceptionFilter({ retryAfterSeconds: 1.5 })).toThrow(
        'Invalid options: ConveyorExceptionFilter: retryAfterSeconds must be a whole number of seconds ≥ 0, got number 1.5',
      );
      expect(() => new ConveyorExceptionFilter({ retryAfterSeconds: -1 })).toThrow(
        InvalidTaskOptionsError,
      );
    });

    it('refuses an unknown option, naming the valid one', () => {
      expect(
        () =>
          new ConveyorExceptionFilter({ retryAfter: 5 } as unknown as {
            retryAfterSeconds: number;
          }),
      ).toThrow(/unknown option retryAfter \(valid: retryAfterSeconds\)/);
    });
  });
});
