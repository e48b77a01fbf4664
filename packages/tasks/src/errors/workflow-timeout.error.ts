import { ConveyorError } from './conveyor.error';

/**
 * A durable workflow's `ctx.waitFor(signal, { timeout })` ran out before the signal came. The
 * workflow may catch it (and decide what no answer means); uncaught, the workflow fails and
 * its compensations run. Also what `Workflows.result({ timeout })` rejects with when the
 * workflow has not ended in time (`signal` is then undefined; the workflow goes on).
 */
export class WorkflowTimeoutError extends ConveyorError {
  override readonly name = 'WorkflowTimeoutError';

  constructor(
    readonly workflowId: string,
    readonly signal: string | undefined,
    readonly timeoutMs: number,
  ) {
    super(
      signal === undefined
        ? `Workflow ${workflowId} did not end within ${timeoutMs} ms; it goes on ` +
            '(wait longer, or read its state with Workflows.get())'
        : `Workflow ${workflowId}: signal '${signal}' did not come within ${timeoutMs} ms ` +
            '(catch WorkflowTimeoutError around ctx.waitFor() to go on without it)',
    );
  }
}
