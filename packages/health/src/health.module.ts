import { type DynamicModule, Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { HEALTH_OPTIONS } from './health.constants';
import { healthController } from './health.controller';
import {
  ConfigurableHealthModule,
  HEALTH_MODULE_OPTIONS,
  type HEALTH_ASYNC_OPTIONS_TYPE,
  type HEALTH_OPTIONS_TYPE,
} from './health.module-definition';
import { resolveHealthOptions } from './health.options';
import { OutboxHealthIndicator } from './indicators/outbox.health';
import { ControlsHealthIndicator } from './indicators/controls.health';
import { QueuesHealthIndicator } from './indicators/queues.health';
import { RedisHealthIndicator } from './indicators/redis.health';
import type { HealthModuleOptions } from './interfaces/health-options.interface';

/**
 * Terminus health checks for Conveyor: `GET /health/live` and `GET /health/ready` (or under
 * `path`). Needs `TasksModule`; checks the outbox too when `OutboxModule` is imported.
 *
 * @example
 * HealthModule.forRoot({
 *   path: '/health',
 *   thresholds: { waiting: 5_000, oldestWaitingAge: '2m', outboxLag: '30s',
 *                 queues: { reports: { oldestWaitingAge: '1h' } } },
 *   timeout: '1s',
 * });
 *
 * @example
 * HealthModule.forRootAsync({
 *   inject: [ConfigService],
 *   useFactory: (config: ConfigService) => ({ thresholds: { outboxLag: config.get('OUTBOX_LAG') } }),
 * });
 */
@Module({
  imports: [TerminusModule],
  providers: [
    {
      provide: HEALTH_OPTIONS,
      inject: [HEALTH_MODULE_OPTIONS],
      useFactory: (options: HealthModuleOptions) => resolveHealthOptions(options),
    },
    RedisHealthIndicator,
    QueuesHealthIndicator,
    ControlsHealthIndicator,
    OutboxHealthIndicator,
  ],
  // TerminusModule too: a controller of the app's own gets HealthCheckService from it.
  exports: [
    TerminusModule,
    RedisHealthIndicator,
    QueuesHealthIndicator,
    OutboxHealthIndicator,
    ControlsHealthIndicator,
  ],
})
export class HealthModule extends ConfigurableHealthModule {
  static override forRoot(options: typeof HEALTH_OPTIONS_TYPE = {}): DynamicModule {
    return withController(super.forRoot(options), options.path);
  }

  static override forRootAsync(options: typeof HEALTH_ASYNC_OPTIONS_TYPE): DynamicModule {
    return withController(super.forRootAsync(options), options.path);
  }
}

function withController(module: DynamicModule, path = '/health'): DynamicModule {
  return { ...module, controllers: [...(module.controllers ?? []), healthController(path)] };
}
