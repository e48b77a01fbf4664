import * as terminus from '@nestjs/terminus';

/**
 * One indicator's result, `{ [key]: { status, ...details } }`: what Terminus's
 * `HealthIndicatorResult` is on 10, 11 and 12 (only 11 and 12 declare it generic).
 */
export type IndicatorResult<K extends string = string> = Record<
  K,
  { status: 'up' | 'down'; [detail: string]: unknown }
>;

/** `@nestjs/terminus` 10 and 11 export it; 12 dropped it (a `down` result is enough there). */
type HealthCheckErrorClass = new (message: string, causes: unknown) => Error;
const HealthCheckError = (terminus as unknown as { HealthCheckError?: HealthCheckErrorClass })
  .HealthCheckError;

/** Builds one indicator's result, the same way on `@nestjs/terminus` 10, 11 and 12. */
export interface IndicatorCheck<K extends string> {
  up(details?: Record<string, unknown>): IndicatorResult<K>;
  /**
   * A `down` result. Terminus 10 and 11 only count an indicator as down when it throws their
   * `HealthCheckError` (10 reports a returned `down` as healthy), so there it throws one
   * carrying the result; on 12 it returns it.
   */
  down(details?: Record<string, unknown>): IndicatorResult<K>;
}

/**
 * Terminus 11's `HealthIndicatorService.check(key)`, without that service (terminus 10 has
 * none, so an indicator injecting it cannot boot there).
 *
 * @example
 * const check = indicatorCheck('redis');
 * return ok ? check.up({ pingMs }) : check.down({ message });
 */
export function indicatorCheck<const K extends string>(key: K): IndicatorCheck<K> {
  const result = (status: 'up' | 'down', details: Record<string, unknown> = {}) =>
    ({ [key]: { ...details, status } }) as IndicatorResult<K>;
  return {
    up: (details) => result('up', details),
    down: (details) => {
      const down = result('down', details);
      if (HealthCheckError) throw new HealthCheckError(`${key} is down`, down);
      return down;
    },
  };
}
