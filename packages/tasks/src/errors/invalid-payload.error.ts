import { ConveyorError } from './conveyor.error';

/**
 * A payload that cannot travel as a job: not JSON-safe, over the size limit, or rejected by
 * the task's schema. Raised at enqueue, before anything is written to Redis.
 */
export class InvalidPayloadError extends ConveyorError {
  override readonly name = 'InvalidPayloadError';

  constructor(
    readonly taskName: string,
    readonly problems: readonly string[],
  ) {
    super(`Invalid payload for task "${taskName}": ${problems.join('; ')}`);
  }
}
