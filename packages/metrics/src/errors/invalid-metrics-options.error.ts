import { ConveyorError } from '@conveyor/tasks';

/** `MetricsModule` options that cannot work: raised at startup, naming the option. */
export class InvalidMetricsOptionsError extends ConveyorError {
  override readonly name = 'InvalidMetricsOptionsError';

  constructor(readonly problem: string) {
    super(`Invalid MetricsModule options: ${problem}`);
  }
}
