import { type ArgumentsHost, Catch, type ExceptionFilter } from '@nestjs/common';
import { ConveyorError } from '@conveyor/tasks';

const STATUS: Record<string, number> = {
  DeadLetterNotFoundError: 404,
  UnknownTaskError: 409,
  InvalidTaskOptionsError: 400,
  UnknownScheduleError: 404,
  UnknownWorkflowError: 404,
  InvalidWorkflowError: 400,
  ScheduleLockError: 503,
};

interface JsonResponse {
  status(code: number): JsonResponse;
  json(body: unknown): unknown;
}

/** Answers Conveyor's typed errors with their status and message, so the page can show them. */
@Catch(ConveyorError)
export class DashboardErrorsFilter implements ExceptionFilter {
  catch(error: ConveyorError, host: ArgumentsHost): void {
    const status = STATUS[error.name] ?? 500;
    host
      .switchToHttp()
      .getResponse<JsonResponse>()
      .status(status)
      .json({ statusCode: status, error: error.name, message: error.message });
  }
}
