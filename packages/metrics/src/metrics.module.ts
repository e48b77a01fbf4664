import { type DynamicModule, Module } from '@nestjs/common';
import { ConveyorMetrics } from './conveyor-metrics';
import { metricsController } from './metrics.controller';
import {
  ConfigurableMetricsModule,
  type METRICS_ASYNC_OPTIONS_TYPE,
  type METRICS_OPTIONS_TYPE,
} from './metrics.module-definition';

/**
 * Prometheus metrics for Conveyor, served at `GET /metrics` (or `path`). Needs `TasksModule`;
 * reads the outbox too when `OutboxModule` is imported.
 *
 * @example
 * MetricsModule.forRoot({ path: '/metrics', registry: appRegistry });
 *
 * @example
 * MetricsModule.forRootAsync({
 *   path: '/metrics',
 *   inject: [ConfigService],
 *   useFactory: (config: ConfigService) => ({ queues: config.get('METRICS_QUEUES')?.split(',') }),
 * });
 */
@Module({
  providers: [ConveyorMetrics],
  exports: [ConveyorMetrics],
})
export class MetricsModule extends ConfigurableMetricsModule {
  static override forRoot(options: typeof METRICS_OPTIONS_TYPE = {}): DynamicModule {
    return withController(super.forRoot(options), options.path);
  }

  static override forRootAsync(options: typeof METRICS_ASYNC_OPTIONS_TYPE): DynamicModule {
    return withController(super.forRootAsync(options), options.path);
  }
}

function withController(module: DynamicModule, path = '/metrics'): DynamicModule {
  return { ...module, controllers: [...(module.controllers ?? []), metricsController(path)] };
}
