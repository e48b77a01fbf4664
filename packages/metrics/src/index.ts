export { MetricsModule } from './metrics.module';
export { METRICS_MODULE_OPTIONS } from './metrics.module-definition';
export { ConveyorMetrics } from './conveyor-metrics';
export type {
  AutoscalingOptions,
  MetricsModuleOptions,
} from './interfaces/metrics-options.interface';
export { InvalidMetricsOptionsError } from './errors/invalid-metrics-options.error';
export type { QueueScaling } from './autoscaling';
