import { type ArgumentsHost, Catch, type ExceptionFilter, Optional } from '@nestjs/common';
import { type Observable, throwError } from 'rxjs';
import {
  EnqueueFailedError,
  InvalidLimitKeyError,
  InvalidPayloadError,
  InvalidScheduleError,
  InvalidTaskOptionsError,
} from '../errors';
import { ConveyorLogger } from '../logging/conveyor-logger';
import { checkKnownKeys, checkObject, describe, type Fail } from '../options/validation';
import { badRequestBody, type ClientFaultError, type TaskUnavailableBody } from './error-bodies';

/** Options of `ConveyorExceptionFilter`. */
export interface ConveyorExceptionFilterOptions {
  /**
   * `Retry-After` of the 503 answered when Redis did not take a job, in whole seconds.
   * @default 5
   */
  retryAfterSeconds?: number;
}

/** The part of Express's `Response` this filter uses. */
interface ExpressResponse {
  headersSent: boolean;
  status(code: number): this;
  setHeader(name: string, value: string): unknown;
  json(body: unknown): unknown;
  end(): unknown;
}

/**
 * Answers Conveyor's errors in HTTP requests (Express) with the status they mean instead of
 * a 500:
 *
 * - 400 `{ statusCode, error, message, task?, problems? }` for data the request sent that
 *   Conveyor refused: `InvalidPayloadError` (with `problems`), `InvalidLimitKeyError` (the
 *   payload gives no usable `lock`/`concurrencyKey` key), `InvalidScheduleError` (a bad
 *   `producer.schedule()` argument).
 * - 503 with `Retry-After` for `EnqueueFailedError` (Redis unreachable, full or read-only).
 *   The body says the queue is unavailable and nothing about Redis; the error, with what
 *   the connection reported, is logged.
 *
 * It catches only these errors, so every other exception reaches Nest's own handling (or
 * your other filters) as before, and it needs no HTTP adapter. `InvalidTaskOptionsError` is
 * left alone on purpose: it is also raised for configuration (an undeclared queue) at the
 * first enqueue, which is no fault of the client. HTTP only: in an RPC handler it rethrows
 * (as an erroring stream), in other contexts it throws the error on unchanged.
 *
 * @example
 * // main.ts
 * app.useGlobalFilters(new ConveyorExceptionFilter());
 *
 * @example
 * // or in a module, with DI
 * providers: [{ provide: APP_FILTER, useClass: ConveyorExceptionFilter }]
 */
@Catch(InvalidPayloadError, InvalidLimitKeyError, InvalidScheduleError, EnqueueFailedError)
export class ConveyorExceptionFilter implements ExceptionFilter {
  private static readonly logger = new ConveyorLogger('ConveyorExceptionFilter');
  private readonly retryAfterSeconds: number;

  constructor(@Optional() options: ConveyorExceptionFilterOptions = {}) {
    const fail: Fail = (problem) => {
      throw new InvalidTaskOptionsError(undefined, `ConveyorExceptionFilter: ${problem}`);
    };
    checkKnownKeys(checkObject(options, 'options', fail), ['retryAfterSeconds'], '', fail);
    const retryAfter = options.retryAfterSeconds ?? 5;
    if (!Number.isSafeInteger(retryAfter) || retryAfter < 0) {
      fail(`retryAfterSeconds must be a whole number of seconds ≥ 0, got ${describe(retryAfter)}`);
    }
    this.retryAfterSeconds = retryAfter;
  }

  catch(
    exception: ClientFaultError | EnqueueFailedError,
    host: ArgumentsHost,
  ): Observable<never> | void {
    // An RPC filter rethrows by returning an erroring stream; a synchronous throw there
    // would reject the handler's promise, which no microservice transport awaits.
    if (host.getType() === 'rpc') return throwError(() => exception);
    if (host.getType() !== 'http') throw exception;

    const response = host.switchToHttp().getResponse<ExpressResponse>();
    if (exception instanceof EnqueueFailedError) {
      // A server-side failure: Nest logs its 500s, and this stands in for one.
      ConveyorExceptionFilter.logger.error(
        exception.message,
        { task: exception.taskName, queue: exception.queue, reason: exception.reason },
        exception,
      );
    }
    if (response.headersSent) {
      // As Nest's own filter does: a status can no longer be sent, so end what was.
      response.end();
      return;
    }
    if (exception instanceof EnqueueFailedError) {
      // The message names Redis's host and port: for the log, not for clients.
      const body: TaskUnavailableBody = {
        statusCode: 503,
        error: 'Service Unavailable',
        message: `Could not enqueue task "${exception.taskName}": the task queue is unavailable; retry later.`,
      };
      response.setHeader('Retry-After', String(this.retryAfterSeconds));
      response.status(503).json(body);
      return;
    }
    response.status(400).json(badRequestBody(exception));
  }
}
