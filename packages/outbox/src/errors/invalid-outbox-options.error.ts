import { ConveyorError } from '@conveyor/tasks';

/** `OutboxModule.forRoot()` options that cannot work; raised at startup. */
export class InvalidOutboxOptionsError extends ConveyorError {
  override readonly name = 'InvalidOutboxOptionsError';

  constructor(problem: string) {
    super(`Invalid OutboxModule options: ${problem}`);
  }
}
