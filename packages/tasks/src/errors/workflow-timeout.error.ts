import { ConveyorError } from './conveyor.error';

/**
 * A durable workflow's `ctx.waitFor(signal, { timeout })` ran out before the signal came. The
 * workflow may catch it (and decide what no answer means); uncaught, the workflow fails and
 * its compensations run.
 */
export class WorkflowTimeoutError extends ConveyorError {
  override readonly name = 'WorkflowTimeoutError';

  constructor(
    readonly workflowId: string,
    readonly signal: string,
    readonly timeoutMs: number,
  ) {
    super(
      `Workflow ${workflowId}: signal '${signal}' did not come within ${timeoutMs} ms ` +
        '(catch WorkflowTimeoutError around ctx.waitFor() to go on without it)',
    );
  }
}
