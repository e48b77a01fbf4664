import { Inject, Injectable } from '@nestjs/common';
import { CircuitBreakers, type CircuitState, TaskControl } from '@conveyor/tasks';
import { HEALTH_OPTIONS } from '../health.constants';
import type { ResolvedHealthOptions } from '../health.options';
import { withTimeout } from '../with-timeout';
import { indicatorCheck, type IndicatorResult } from './indicator-check';

/** What the controls check reports: what holds jobs back on purpose now. */
export interface ControlsHealth {
  /** Each circuit breaker of the app's tasks, by name. */
  circuitBreakers: Record<string, CircuitState>;
  /** Queues paused with `TaskControl.pause()`. */
  pausedQueues: string[];
  /** Tasks paused with `TaskControl.pauseTask()`. */
  pausedTasks: string[];
}

/**
 * Reports what holds jobs back on purpose: circuit breakers that are open or half-open, and
 * paused queues and tasks. They are the app protecting itself, or an operator's choice, so
 * the check stays up for them (a readiness probe that failed would take the process out of
 * service for a dependency it is already sparing); it is down only when Redis cannot say.
 */
@Injectable()
export class ControlsHealthIndicator {
  constructor(
    private readonly breakers: CircuitBreakers,
    private readonly control: TaskControl,
    @Inject(HEALTH_OPTIONS) private readonly options: ResolvedHealthOptions,
  ) {}

  async isHealthy<const K extends string = 'controls'>(
    key: K = 'controls' as K,
  ): Promise<IndicatorResult<K>> {
    const check = indicatorCheck(key);
    try {
      const [breakers, limits] = await withTimeout(
        Promise.all([this.breakers.list(), this.control.limits()]),
        this.options.timeoutMs,
        'Redis',
      );
      const details: ControlsHealth = {
        circuitBreakers: Object.fromEntries(breakers.map((b) => [b.name, b.state])),
        pausedQueues: limits.filter((q) => q.paused).map((q) => q.queue),
        pausedTasks: limits.flatMap((q) => q.tasks.filter((t) => t.paused).map((t) => t.task)),
      };
      return check.up({ ...details });
    } catch (error) {
      return check.down({ message: (error as Error).message });
    }
  }
}
