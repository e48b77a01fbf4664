import { Inject, Injectable } from '@nestjs/common';
import { QueueInspector } from '@conveyor/tasks';
import { HEALTH_OPTIONS } from '../health.constants';
import type { ResolvedHealthOptions } from '../health.options';
import { withTimeout } from '../with-timeout';
import { indicatorCheck, type IndicatorResult } from './indicator-check';

/**
 * Up when Conveyor's Redis answers a PING within the timeout.
 *
 * @example
 * @Get('ready') @HealthCheck()
 * ready() { return this.health.check([() => this.redis.isHealthy()]); }
 */
@Injectable()
export class RedisHealthIndicator {
  constructor(
    private readonly inspector: QueueInspector,
    @Inject(HEALTH_OPTIONS) private readonly options: ResolvedHealthOptions,
  ) {}

  async isHealthy<const K extends string = 'redis'>(
    key: K = 'redis' as K,
  ): Promise<IndicatorResult<K>> {
    const check = indicatorCheck(key);
    let pingMs: number;
    try {
      pingMs = await withTimeout(this.inspector.ping(), this.options.timeoutMs, 'Redis');
    } catch (error) {
      return check.down({ message: (error as Error).message });
    }
    return check.up({ pingMs });
  }
}
