import type { InvalidLimitKeyError, InvalidPayloadError, InvalidScheduleError } from '../errors';

/**
 * JSON body of a 400 for data Conveyor refused: the same from `TaskPayloadPipe` and from
 * `ConveyorExceptionFilter`, so clients parse one shape.
 */
export interface TaskBadRequestBody {
  statusCode: 400;
  error: 'Bad Request';
  /** The error's message, naming the task and every problem. */
  message: string;
  /** The task the data was for, when the error names one. */
  task?: string;
  /** Each problem with the payload, e.g. `payload.to: Invalid email address` (payload errors). */
  problems?: string[];
}

/** JSON body of the 503 `ConveyorExceptionFilter` answers when Redis did not take a job. */
export interface TaskUnavailableBody {
  statusCode: 503;
  error: 'Service Unavailable';
  message: string;
}

/** Errors that, raised while serving a request, can only be about the data of that request. */
export type ClientFaultError = InvalidPayloadError | InvalidLimitKeyError | InvalidScheduleError;

export function badRequestBody(error: ClientFaultError): TaskBadRequestBody {
  const body: TaskBadRequestBody = {
    statusCode: 400,
    error: 'Bad Request',
    message: error.message,
  };
  if (error.taskName !== undefined) body.task = error.taskName;
  if ('problems' in error) body.problems = [...error.problems];
  return body;
}
