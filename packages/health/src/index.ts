export { HealthModule } from './health.module';
export { HEALTH_MODULE_OPTIONS } from './health.module-definition';
export { RedisHealthIndicator } from './indicators/redis.health';
export { QueuesHealthIndicator, type QueueHealth } from './indicators/queues.health';
export { OutboxHealthIndicator } from './indicators/outbox.health';
export { ControlsHealthIndicator, type ControlsHealth } from './indicators/controls.health';
export type { IndicatorResult } from './indicators/indicator-check';
export { InvalidHealthOptionsError } from './errors/invalid-health-options.error';
export type {
  HealthModuleOptions,
  HealthThresholds,
  QueueThresholds,
} from './interfaces/health-options.interface';
