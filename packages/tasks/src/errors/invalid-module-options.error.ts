import { ConveyorError } from './conveyor.error';

/** `TasksModule.forRoot()` options that cannot work; raised at startup. */
export class InvalidModuleOptionsError extends ConveyorError {
  override readonly name = 'InvalidModuleOptionsError';

  constructor(problem: string) {
    super(`Invalid TasksModule options: ${problem}`);
  }
}
