import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { HEALTH_OPTIONS } from '../health.constants';
import type { ResolvedHealthOptions } from '../health.options';
import type { OutboxRelay } from '@conveyor/outbox';
import { findOutboxStats } from '@conveyor/tasks/internal';
import { withTimeout } from '../with-timeout';
import { indicatorCheck, type IndicatorResult } from './indicator-check';

/** What this indicator reads from the outbox. */
type OutboxStatsSource = Pick<OutboxRelay, 'stats'>;

/**
 * Up when the oldest unpublished outbox row is younger than `thresholds.outboxLag`. Without
 * `OutboxModule` in the app, `present` is false and the readiness route leaves it out.
 */
@Injectable()
export class OutboxHealthIndicator implements OnModuleInit {
  private outbox?: OutboxStatsSource;

  constructor(
    private readonly moduleRef: ModuleRef,
    @Inject(HEALTH_OPTIONS) private readonly options: ResolvedHealthOptions,
  ) {}

  onModuleInit(): void {
    this.outbox = findOutboxStats<OutboxStatsSource>(this.moduleRef);
  }

  /** Whether the app has an outbox to check. */
  get present(): boolean {
    return this.outbox !== undefined;
  }

  async isHealthy<const K extends string = 'outbox'>(
    key: K = 'outbox' as K,
  ): Promise<IndicatorResult<K>> {
    const check = indicatorCheck(key);
    if (!this.outbox) return check.down({ message: 'OutboxModule is not imported' });
    let stats: Awaited<ReturnType<OutboxStatsSource['stats']>>;
    try {
      stats = await withTimeout(this.outbox.stats(), this.options.timeoutMs, 'the outbox');
    } catch (error) {
      return check.down({ message: (error as Error).message });
    }
    const figures = { pending: stats.pending, lagMs: stats.oldestPendingAgeMs };
    return stats.oldestPendingAgeMs > this.options.outboxLagMs
      ? check.down({
          ...figures,
          message: `oldest unpublished row is ${stats.oldestPendingAgeMs} ms old, over the threshold of ${this.options.outboxLagMs} ms`,
        })
      : check.up(figures);
  }
}
