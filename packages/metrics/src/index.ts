export { MetricsModule } from './metrics.module';
export { METRICS_MODULE_OPTIONS } from './metrics.module-definition';
export { ConveyorMetrics } from './conveyor-metrics';
export type { MetricsModuleOptions } from './interfaces/metrics-options.interface';
