import { ConfigurableModuleBuilder } from '@nestjs/common';
import type { MetricsModuleOptions } from './interfaces/metrics-options.interface';

export const {
  ConfigurableModuleClass: ConfigurableMetricsModule,
  MODULE_OPTIONS_TOKEN: METRICS_MODULE_OPTIONS,
  OPTIONS_TYPE: METRICS_OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE: METRICS_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<MetricsModuleOptions>({ moduleName: 'Metrics' })
  .setClassMethodName('forRoot')
  // `path` shapes the module (its controller's route), so it is known before any factory runs.
  .setExtras({ isGlobal: false, path: '/metrics' }, (definition, extras) => ({
    ...definition,
    global: extras.isGlobal,
  }))
  .build();
