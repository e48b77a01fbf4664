import { ConveyorError } from './conveyor.error';

/**
 * Throw from a handler to fail the job at once, without the remaining retries
 * (bad data, a permanent refusal from a provider, …).
 *
 * @example
 * if (!user) throw new UnrecoverableTaskError(`user ${payload.userId} does not exist`);
 */
export class UnrecoverableTaskError extends ConveyorError {
  override readonly name = 'UnrecoverableTaskError';
}
