import { ConveyorError } from './conveyor.error';

/** Task, queue or enqueue options with an unknown key or a value out of range. */
export class InvalidTaskOptionsError extends ConveyorError {
  override readonly name = 'InvalidTaskOptionsError';

  constructor(
    readonly taskName: string | undefined,
    problem: string,
  ) {
    super(
      taskName
        ? `Invalid options for task "${taskName}": ${problem}`
        : `Invalid options: ${problem}`,
    );
  }
}
