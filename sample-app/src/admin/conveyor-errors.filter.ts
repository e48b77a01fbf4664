import { type ArgumentsHost, Catch, type ExceptionFilter } from '@nestjs/common';
import { ConveyorError } from '@conveyor/tasks';
import type { Response } from 'express';

const STATUS: Record<string, number> = {
  DeadLetterNotFoundError: 404,
  UnknownTaskError: 409,
  InvalidTaskOptionsError: 400,
  InvalidPayloadError: 400,
  UnknownCircuitBreakerError: 404,
};

/** Turns Conveyor's typed errors into HTTP answers with their message. */
@Catch(ConveyorError)
export class ConveyorErrorsFilter implements ExceptionFilter {
  catch(error: ConveyorError, host: ArgumentsHost): void {
    const status = STATUS[error.name] ?? 500;
    host
      .switchToHttp()
      .getResponse<Response>()
      .status(status)
      .json({ statusCode: status, error: error.name, message: error.message });
  }
}
