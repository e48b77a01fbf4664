import { BadRequestException, Body, Controller, Post } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import type { StandardSchemaV1 } from '@standard-schema/spec';
import { z } from 'zod';
import { defineTask } from '../define-task';
import { InvalidPayloadError, InvalidTaskOptionsError } from '../errors';
import { TaskPayloadPipe } from './task-payload.pipe';

const Email = z.object({
  to: z.email(),
  subject: z.string().trim().min(1),
  urgent: z.boolean().default(false),
});
const SendEmail = defineTask('email.send', { schema: Email, maxPayloadBytes: 200 });
const NoSchema = defineTask<{ to: string }, void>('email.raw');

/** What the pipe threw, checked to be a BadRequestException. */
async function refusal(
  pipe: { transform(value: unknown): Promise<unknown> },
  value: unknown,
): Promise<BadRequestException> {
  const error = await pipe.transform(value).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(BadRequestException);
  return error as BadRequestException;
}

describe('TaskPayloadPipe', () => {
  const pipe = new TaskPayloadPipe(SendEmail);

  it("returns the schema's output: defaults filled, values transformed", async () => {
    await expect(pipe.transform({ to: 'a@example.com', subject: '  Hi  ' })).resolves.toEqual({
      to: 'a@example.com',
      subject: 'Hi',
      urgent: false,
    });
  });

  it('refuses a body the schema rejects with a 400 naming the task and every problem', async () => {
    const error = await refusal(pipe, { to: 'not-an-email', subject: '' });
    expect(error.getStatus()).toBe(400);
    const body = error.getResponse() as Record<string, unknown>;
    expect(body).toMatchObject({ statusCode: 400, error: 'Bad Request', task: 'email.send' });
    expect(body.problems).toEqual([
      expect.stringMatching(/^payload\.to: /),
      expect.stringMatching(/^payload\.subject: /),
    ]);
    expect(body.message).toMatch(/^Invalid payload for task "email\.send": payload\.to: /);
  });

  it('keeps the InvalidPayloadError as the cause, with the same problems', async () => {
    const error = await refusal(pipe, { to: 'a@example.com' });
    expect(error.cause).toBeInstanceOf(InvalidPayloadError);
    expect((error.getResponse() as { problems: string[] }).problems).toEqual(
      (error.cause as InvalidPayloadError).problems,
    );
  });

  it("refuses a body over the definition's maxPayloadBytes", async () => {
    const error = await refusal(pipe, { to: 'a@example.com', subject: 'x'.repeat(300) });
    expect((error.getResponse() as { problems: string[] }).problems).toEqual([
      expect.stringMatching(/^payload is \d+ bytes, over the limit of 200 bytes/),
    ]);
  });

  it('awaits a schema that validates asynchronously', async () => {
    const schema: StandardSchemaV1<{ n: number }, { n: number }> = {
      '~standard': {
        version: 1,
        vendor: 'test',
        validate: async (value) =>
          typeof (value as { n?: unknown }).n === 'number'
            ? { value: value as { n: number } }
            : { issues: [{ message: 'n must be a number', path: ['n'] }] },
      },
    };
    const asyncPipe = new TaskPayloadPipe(defineTask('async.check', { schema }));
    await expect(asyncPipe.transform({ n: 1 })).resolves.toEqual({ n: 1 });
    const error = await refusal(asyncPipe, { n: 'one' });
    expect(error.getResponse()).toMatchObject({ problems: ['payload.n: n must be a number'] });
  });

  it('lets an error thrown by the schema itself through unchanged', async () => {
    const failure = new Error('lookup service down');
    const schema: StandardSchemaV1 = {
      '~standard': {
        version: 1,
        vendor: 'test',
        validate: () => {
          throw failure;
        },
      },
    };
    await expect(
      new TaskPayloadPipe(defineTask('throwing.schema', { schema })).transform({}),
    ).rejects.toBe(failure);
  });

  it('refuses at construction a task without a schema, naming the task', () => {
    expect(() => new TaskPayloadPipe(NoSchema)).toThrow(InvalidTaskOptionsError);
    expect(() => new TaskPayloadPipe(NoSchema)).toThrow(
      /^Invalid options for task "email\.raw": TaskPayloadPipe validates against the task's schema, and this definition has none/,
    );
  });

  it('refuses at construction anything but a TaskRef', () => {
    expect(() => new TaskPayloadPipe('email.send' as never)).toThrow(
      "TaskPayloadPipe takes a TaskRef made by defineTask(), got 'email.send'",
    );
  });

  it('answers 400 on an HTTP route without ConveyorExceptionFilter installed', async () => {
    @Controller()
    class EmailController {
      @Post('emails')
      send(@Body(new TaskPayloadPipe(SendEmail)) body: z.output<typeof Email>) {
        return body;
      }
    }
    const moduleRef = await Test.createTestingModule({ controllers: [EmailController] }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    await app.listen(0, '127.0.0.1');
    const url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
    const post = (body: unknown) =>
      fetch(`${url}/emails`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    try {
      const ok = await post({ to: 'a@example.com', subject: 'Hi' });
      expect(ok.status).toBe(201);
      expect(await ok.json()).toEqual({ to: 'a@example.com', subject: 'Hi', urgent: false });

      const bad = await post({ to: 'nope', subject: 'Hi' });
      expect(bad.status).toBe(400);
      expect(await bad.json()).toEqual({
        statusCode: 400,
        error: 'Bad Request',
        message: expect.stringMatching(/^Invalid payload for task "email\.send": payload\.to: /),
        task: 'email.send',
        problems: [expect.stringMatching(/^payload\.to: /)],
      });
    } finally {
      await app.close();
    }
  });
});
