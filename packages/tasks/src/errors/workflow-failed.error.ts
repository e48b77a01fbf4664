import { ConveyorError } from './conveyor.error';

/**
 * What `Workflows.result()` rejects with for a workflow that did not complete: it `failed`,
 * was `compensated` after a failure, or was `cancelled`. The original error ran in another
 * process: its name and message are carried here.
 */
export class WorkflowFailedError extends ConveyorError {
  override readonly name = 'WorkflowFailedError';

  constructor(
    readonly workflowId: string,
    readonly status: 'failed' | 'compensated' | 'cancelled',
    /** `name` of the error that ended the workflow, e.g. `TaskFailedError`. */
    readonly errorName: string,
    readonly reason: string,
  ) {
    super(`Workflow ${workflowId} ended ${status}: ${errorName}: ${reason}`);
  }
}
