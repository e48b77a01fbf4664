import { ConveyorError } from '@conveyor/tasks';

/** `DashboardModule` options that cannot work: raised at startup, naming the option. */
export class InvalidDashboardOptionsError extends ConveyorError {
  override readonly name = 'InvalidDashboardOptionsError';

  constructor(readonly problem: string) {
    super(`Invalid DashboardModule options: ${problem}`);
  }
}
