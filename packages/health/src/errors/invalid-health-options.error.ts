import { ConveyorError } from '@conveyor/tasks';

/** `HealthModule` options that cannot work: raised at startup, naming the option. */
export class InvalidHealthOptionsError extends ConveyorError {
  override readonly name = 'InvalidHealthOptionsError';

  constructor(readonly problem: string) {
    super(`Invalid HealthModule options: ${problem}`);
  }
}
