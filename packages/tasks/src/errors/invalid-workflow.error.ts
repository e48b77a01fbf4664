import { ConveyorError } from './conveyor.error';

/** A chain, group or chord that cannot run as written; raised before anything is enqueued. */
export class InvalidWorkflowError extends ConveyorError {
  override readonly name = 'InvalidWorkflowError';

  constructor(problem: string) {
    super(`Invalid workflow: ${problem}`);
  }
}
