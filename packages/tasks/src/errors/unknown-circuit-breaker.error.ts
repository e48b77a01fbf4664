import { ConveyorError } from './conveyor.error';

/** `CircuitBreakers` was given a name that no task of this app gives its `circuitBreaker`. */
export class UnknownCircuitBreakerError extends ConveyorError {
  override readonly name = 'UnknownCircuitBreakerError';

  constructor(
    readonly breaker: string,
    readonly known: readonly string[],
  ) {
    super(
      `Unknown circuit breaker ${JSON.stringify(breaker)}: no @Task() of this app names it in ` +
        `circuitBreaker; known breakers: ${known.length ? known.join(', ') : 'none'}.`,
    );
  }
}
