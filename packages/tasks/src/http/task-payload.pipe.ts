import { BadRequestException, type PipeTransform } from '@nestjs/common';
import { isTaskRef } from '../define-task';
import { InvalidPayloadError, InvalidTaskOptionsError } from '../errors';
import type { TaskRef } from '../interfaces/task-ref.interface';
import { DEFAULT_MAX_PAYLOAD_BYTES, type ResolvedTaskOptions } from '../options/task-options';
import { describe } from '../options/validation';
import { validatePayload } from '../payload/validate-payload';
import { badRequestBody } from './error-bodies';

/**
 * Validates a request's body (or any parameter) against a task's schema, with the checks
 * `TaskProducer.enqueue` runs, and gives the handler the schema's output (defaults filled,
 * coercions applied). A body the schema refuses is answered 400 with every problem:
 * `{ statusCode: 400, error: 'Bad Request', message, task, problems }`.
 *
 * It throws a `BadRequestException` (whose `cause` is the `InvalidPayloadError`) rather than
 * the `InvalidPayloadError` itself: a pipe only ever sees the client's data, so the answer is
 * a 400 whether or not `ConveyorExceptionFilter` is installed, and filters that format
 * `HttpException`s format it too. The body is the one the filter gives an
 * `InvalidPayloadError`.
 *
 * The task must be defined with a `schema` (a schema given only in `@Task()` is not visible
 * here); the pipe refuses one without at construction. The size limit is the definition's
 * `maxPayloadBytes` (512 KiB when it sets none); `enqueue` checks the limit in force again.
 *
 * @example
 * const Email = z.object({ to: z.email(), subject: z.string().min(1) });
 * const SendEmail = defineTask('email.send', { schema: Email });
 *
 * @Post('emails')
 * async send(@Body(new TaskPayloadPipe(SendEmail)) body: z.output<typeof Email>) {
 *   const handle = await this.producer.enqueue(SendEmail, body);
 *   return { jobId: handle.id };
 * }
 */
export class TaskPayloadPipe<P = unknown, H = P> implements PipeTransform<unknown, Promise<H>> {
  private readonly checks: Pick<ResolvedTaskOptions, 'schema' | 'maxPayloadBytes'>;

  constructor(readonly task: TaskRef<P, unknown, H>) {
    if (!isTaskRef(task)) {
      throw new InvalidTaskOptionsError(
        undefined,
        `TaskPayloadPipe takes a TaskRef made by defineTask(), got ${describe(task)}`,
      );
    }
    if (!task.options.schema) {
      throw new InvalidTaskOptionsError(
        task.name,
        "TaskPayloadPipe validates against the task's schema, and this definition has none: " +
          'give defineTask() a schema option (a schema set only in @Task() is not visible here)',
      );
    }
    this.checks = {
      schema: task.options.schema,
      maxPayloadBytes: task.options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES,
    };
  }

  async transform(value: unknown): Promise<H> {
    try {
      return (await validatePayload(this.task.name, value, this.checks)) as H;
    } catch (error) {
      if (!(error instanceof InvalidPayloadError)) throw error;
      throw new BadRequestException(badRequestBody(error), {
        cause: error,
        description: 'Bad Request',
      });
    }
  }
}
