import { ConveyorError } from './conveyor.error';

/**
 * A durable workflow replayed differently from its journal: at step `seq` the code now asks
 * for something else than what the journal recorded (its code changed under a running
 * workflow, or it branches on something that is not a step's result: `Date.now()`,
 * `Math.random()`, a read of outside state). The workflow fails without compensations,
 * since its history no longer says which steps ran.
 */
export class WorkflowNonDeterminismError extends ConveyorError {
  override readonly name = 'WorkflowNonDeterminismError';

  constructor(
    readonly workflowId: string,
    readonly seq: number,
    readonly recorded: string,
    readonly requested: string,
  ) {
    super(
      `Workflow ${workflowId} is not deterministic: its step #${seq} was ${recorded} when it ` +
        `first ran, and is now ${requested}. Keep a running workflow's code unchanged (start ` +
        'new runs under a new workflow name) and branch only on step results, signals and input.',
    );
  }
}
